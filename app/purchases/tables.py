from piccolo.columns import BigInt, Boolean, Integer, Timestamptz, Varchar
from piccolo.table import Table


class CoinPackage(Table, tablename="purchase_coin_package"):
    """A coin bundle on sale on one platform, at a default price."""

    platform = Varchar(length=16)
    # The store's product id (App Store, Google Play); empty on the web.
    product_id = Varchar(length=128, default="")
    coins = Integer()
    bonus_coins = Integer(default=0)
    price_minor = BigInt()
    currency = Varchar(length=3)
    active = Boolean(default=True)
    created_at = Timestamptz()


class CoinPackagePrice(Table, tablename="purchase_coin_package_price"):
    """A country's own price for a package (ISO 3166 alpha-2 country code)."""

    package_id = BigInt()
    country = Varchar(length=2)
    price_minor = BigInt()
    currency = Varchar(length=3)


class Purchase(Table, tablename="purchase"):
    """Coins bought with real money: one per provider transaction id."""

    user_id = BigInt()
    package_id = BigInt()
    provider = Varchar(length=16)
    provider_transaction_id = Varchar(length=255)
    coins = Integer()
    bonus_coins = Integer()
    price_minor = BigInt()
    currency = Varchar(length=3)
    status = Varchar(length=16)
    operation_id = BigInt()
    refund_operation_id = BigInt(null=True, default=None)
    refund_reason = Varchar(length=64, default="")
    created_at = Timestamptz()
    refunded_at = Timestamptz(null=True, default=None)
    # Paid past the buyer's purchase limits (a receipt that arrived already paid is never
    # refused): credited, and counted, so further checkouts wait for the period to pass.
    over_limit = Boolean(default=False)
    # Money refunded so far (the provider's cumulative figure) and the coins clawed for it.
    refunded_minor = BigInt(default=0)
    refunded_coins = Integer(default=0)
    # Coins open disputes hold and lost disputes took.
    disputed_coins = Integer(default=0)


class Dispute(Table, tablename="purchase_dispute"):
    """A provider's payment dispute (chargeback) of a purchase: OPEN, WON or LOST."""

    purchase_id = BigInt()
    provider = Varchar(length=16)
    dispute_id = Varchar(length=255)
    status = Varchar(length=16)
    amount_minor = BigInt()
    # Held in DISPUTE_HOLD while OPEN (less what a refund took from the hold meanwhile);
    # taken for good when LOST; given back when WON.
    coins = Integer()
    opened_at = Timestamptz(null=True, default=None)
    closed_at = Timestamptz(null=True, default=None)


class PurchaseClawback(Table, tablename="purchase_clawback"):
    """One coin movement of a refund or dispute, with the ledger operation that made it."""

    purchase_id = BigInt()
    user_id = BigInt()
    kind = Varchar(length=24)
    coins = Integer()
    operation_id = BigInt()
    reason = Varchar(length=64, default="")
    created_at = Timestamptz()


class WebhookEvent(Table, tablename="purchase_webhook_event"):
    """A provider notification we processed; its id is seen once."""

    provider = Varchar(length=16)
    event_id = Varchar(length=255)
    event_type = Varchar(length=64)
    received_at = Timestamptz()


class Checkout(Table, tablename="purchase_checkout"):
    """A web checkout: a Stripe PaymentIntent bound to one user, package and price.

    Its webhook credits that package once, and only when the amount and currency paid are
    the price bound here (else ``status`` AMOUNT_MISMATCH with what was paid, no coins).
    """

    user_id = BigInt()
    package_id = BigInt()
    country = Varchar(length=2, default="")
    price_minor = BigInt()
    currency = Varchar(length=3)
    idempotency_key = Varchar(length=128)
    request_hash = Varchar(length=64)
    payment_intent_id = Varchar(length=255)
    status = Varchar(length=16)
    paid_minor = BigInt(null=True, default=None)
    paid_currency = Varchar(length=3, null=True, default=None)
    purchase_id = BigInt(null=True, default=None)
    created_at = Timestamptz()
    settled_at = Timestamptz(null=True, default=None)

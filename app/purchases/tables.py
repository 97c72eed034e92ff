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
    # Held in DISPUTE_HOLD while OPEN; taken for good when LOST; given back when WON.
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

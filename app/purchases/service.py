"""Coin purchases: packages on sale, crediting verified payments once, refunds and clawback.

Guarantees
- A purchase credits ``coins + bonus_coins`` from COIN_ISSUANCE to the buyer in the same
  transaction that records it; a provider transaction id credits at most once (unique index).
- ``purchase_coins`` with an idempotency key already used for the same input returns the
  first purchase; the same receipt under another key is RECEIPT_ALREADY_USED.
- A refund or chargeback claws ``coins + bonus_coins`` back with a REFUND_CLAWBACK transfer,
  even into a negative balance, exactly once per purchase (a conditional status update).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from fractions import Fraction

import structlog

from app.audit import service as audit
from app.audit.service import Actor
from app.core.clock import as_utc, utcnow
from app.core.database import is_unique_violation
from app.core.errors import DomainError, ErrorCode
from app.core.money import Money, minor_unit_exponent
from app.core.transactions import RetryTransaction, in_transaction
from app.fraud import service as fraud
from app.fraud.codes import FraudRule, Severity
from app.ledger import service as ledger
from app.ledger.codes import AccountCode, Currency, TransferKind
from app.purchases.codes import PROVIDER_PLATFORM, Platform, Provider, PurchaseStatus
from app.purchases.tables import CoinPackage, CoinPackagePrice, Purchase, WebhookEvent
from app.purchases.verifiers import ReceiptVerifier, VerifiedPayment, receipt_invalid
from app.users import service as users

log = structlog.get_logger(__name__)

PURCHASE_OPERATION = "PURCHASE"
CLAWBACK_OPERATION = "REFUND_CLAWBACK"
# Digits a price per coin shows beyond the currency's own (0.0129 USD per coin).
PRICE_PER_COIN_EXTRA_DIGITS = 2


@dataclass(frozen=True, slots=True)
class PackageRecord:
    id: int
    platform: Platform
    product_id: str
    coins: int
    bonus_coins: int
    price: Money
    active: bool

    @property
    def total_coins(self) -> int:
        return self.coins + self.bonus_coins

    @property
    def price_per_coin(self) -> Decimal:
        return price_per_coin(self.price, self.total_coins)


@dataclass(frozen=True, slots=True)
class PurchaseRecord:
    id: int
    user_id: int
    package_id: int
    provider: Provider
    provider_transaction_id: str
    coins: int
    bonus_coins: int
    price: Money
    status: PurchaseStatus
    created_at: datetime
    refunded_at: datetime | None

    @property
    def total_coins(self) -> int:
        return self.coins + self.bonus_coins


def price_per_coin(price: Money, coins: int) -> Decimal:
    """The exact ratio, rounded half up to two digits below the currency's minor unit."""
    places = minor_unit_exponent(price.currency) + PRICE_PER_COIN_EXTRA_DIGITS
    ratio = Fraction(price.amount_minor, coins * 10 ** minor_unit_exponent(price.currency))
    scaled = ratio * 10**places
    rounded = (scaled.numerator * 2 + scaled.denominator) // (2 * scaled.denominator)
    return Decimal(rounded).scaleb(-places)


def _package(row: dict, price: Money | None = None) -> PackageRecord:
    return PackageRecord(
        id=row["id"],
        platform=Platform(row["platform"]),
        product_id=row["product_id"],
        coins=row["coins"],
        bonus_coins=row["bonus_coins"],
        price=price or Money(row["price_minor"], row["currency"]),
        active=bool(row["active"]),
    )


def _purchase(row: dict) -> PurchaseRecord:
    return PurchaseRecord(
        id=row["id"],
        user_id=row["user_id"],
        package_id=row["package_id"],
        provider=Provider(row["provider"]),
        provider_transaction_id=row["provider_transaction_id"],
        coins=row["coins"],
        bonus_coins=row["bonus_coins"],
        price=Money(row["price_minor"], row["currency"]),
        status=PurchaseStatus(row["status"]),
        created_at=as_utc(row["created_at"]),
        refunded_at=as_utc(row["refunded_at"]) if row["refunded_at"] else None,
    )


# Packages ------------------------------------------------------------------------------


def normalize_country(country: str | None) -> str | None:
    if country is None or not country.strip():
        return None
    code = country.strip().upper()
    if len(code) != 2 or not code.isalpha() or not code.isascii():
        raise DomainError(
            ErrorCode.INVALID_INPUT, "A country is a two-letter ISO code, e.g. GB.", "country"
        )
    return code


async def packages_on_sale(platform: Platform, country: str | None = None) -> list[PackageRecord]:
    """Active packages of ``platform`` at ``country``'s price (else the default), cheapest first.

    The order is by default price, so a country whose prices are partly in another
    currency still lists the packages in one consistent order.
    """
    country = normalize_country(country)
    rows = await CoinPackage.select().where(
        (CoinPackage.platform == platform.value) & (CoinPackage.active == True)  # noqa: E712
    )
    overrides: dict[int, Money] = {}
    if country and rows:
        for price in await CoinPackagePrice.select().where(
            CoinPackagePrice.package_id.is_in([row["id"] for row in rows])
            & (CoinPackagePrice.country == country)
        ):
            overrides[price["package_id"]] = Money(price["price_minor"], price["currency"])
    rows = sorted(rows, key=lambda r: (r["price_minor"], r["coins"] + r["bonus_coins"], r["id"]))
    return [_package(row, overrides.get(row["id"])) for row in rows]


async def packages_by_ids(package_ids: Sequence[int]) -> dict[int, PackageRecord]:
    if not package_ids:
        return {}
    rows = await CoinPackage.select().where(CoinPackage.id.is_in(list(set(package_ids))))
    return {row["id"]: _package(row) for row in rows}


async def create_package(
    *,
    platform: Platform,
    coins: int,
    price: Money,
    bonus_coins: int = 0,
    product_id: str = "",
    country_prices: dict[str, Money] | None = None,
    actor: Actor | None = None,
) -> PackageRecord:
    """A new package on sale; a staff ``actor`` gets an audit entry in the same transaction."""
    if coins <= 0 or bonus_coins < 0 or price.amount_minor <= 0:
        raise DomainError(ErrorCode.INVALID_INPUT, "Coins and price must be positive.")

    async def work() -> int:
        rows = await CoinPackage.raw(
            "INSERT INTO purchase_coin_package (platform, product_id, coins, bonus_coins, "
            "price_minor, currency, active, created_at) VALUES ({}, {}, {}, {}, {}, {}, {}, {}) "
            "RETURNING id",
            platform.value,
            product_id,
            coins,
            bonus_coins,
            price.amount_minor,
            price.currency,
            True,
            utcnow(),
        )
        package_id = rows[0]["id"]
        for country, money in (country_prices or {}).items():
            await CoinPackagePrice.raw(
                "INSERT INTO purchase_coin_package_price (package_id, country, price_minor, "
                "currency) VALUES ({}, {}, {}, {})",
                package_id,
                normalize_country(country),
                money.amount_minor,
                money.currency,
            )
        if actor is not None:
            await audit.record(
                actor,
                "package.create",
                target_type="coin_package",
                target_id=package_id,
                after={
                    "platform": platform.value,
                    "coins": coins,
                    "bonus_coins": bonus_coins,
                    "price_minor": price.amount_minor,
                    "currency": price.currency,
                },
            )
        return package_id

    package_id = await in_transaction(work)
    return (await packages_by_ids([package_id]))[package_id]


# Buying --------------------------------------------------------------------------------


def purchase_request(package_id: int, provider: Provider, receipt: str) -> dict[str, object]:
    """What an idempotency key is bound to (the Stripe webhook records the same)."""
    return {"package_id": package_id, "provider": provider.value, "receipt": receipt}


async def get_purchase(purchase_id: int) -> PurchaseRecord:
    row = await Purchase.select().where(Purchase.id == purchase_id).first()
    if row is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such purchase.")
    return _purchase(row)


async def _find_purchase(provider: Provider, transaction_id: str) -> PurchaseRecord | None:
    row = (
        await Purchase.select()
        .where(
            (Purchase.provider == provider.value)
            & (Purchase.provider_transaction_id == transaction_id)
        )
        .first()
    )
    return _purchase(row) if row else None


async def _package_for(package_id: int, provider: Provider) -> PackageRecord:
    package = (await packages_by_ids([package_id])).get(package_id)
    if package is None or not package.active:
        raise DomainError(
            ErrorCode.PACKAGE_UNAVAILABLE, "That package is not on sale.", "packageId"
        )
    platform = PROVIDER_PLATFORM[provider]
    if platform is not None and package.platform is not platform:
        raise DomainError(
            ErrorCode.PACKAGE_UNAVAILABLE,
            f"That package is sold on {package.platform.value}, not through {provider.value}.",
            "packageId",
        )
    return package


def _already_used() -> DomainError:
    return DomainError(
        ErrorCode.RECEIPT_ALREADY_USED, "This receipt has already been used.", "receipt"
    )


async def purchase_coins(
    *,
    user_id: int,
    package_id: int,
    provider: Provider,
    receipt: str,
    idempotency_key: str,
    verifier: ReceiptVerifier,
) -> PurchaseRecord:
    """Credit the package's coins for a payment the provider's ``verifier`` vouches for.

    Verification (signatures, certificate chains) runs before the transaction opens;
    everything it decides on is checked again inside it.
    """
    ledger.validate_idempotency_key(idempotency_key)
    users.require_can_transact(await users.get_user(user_id))
    payment = verifier.verify(receipt)
    request = purchase_request(package_id, provider, receipt)

    async def work() -> int:
        started = await ledger.open_operation(
            PURCHASE_OPERATION, user_id=user_id, idempotency_key=idempotency_key, request=request
        )
        if isinstance(started, ledger.Replay):
            return int(started.result_ref or 0)
        users.require_can_transact(await users.get_user(user_id))
        package = await _package_for(package_id, provider)
        existing = await _find_purchase(provider, payment.transaction_id)
        if payment.confirmed_by_webhook:
            # Same key as the webhook's metadata replays above; anything else lands here.
            if existing is None:
                raise receipt_invalid("The payment is not confirmed yet; try again shortly.")
            raise _already_used()
        if existing is not None:
            raise _already_used()
        if payment.product_id is not None and payment.product_id != package.product_id:
            raise receipt_invalid("The receipt is for another product than this package.")
        return await _credit(started, user_id, package, provider, payment)

    purchase_id = await in_transaction(work)
    return await get_purchase(purchase_id)


async def _credit(
    started: ledger.OpenOperation,
    user_id: int,
    package: PackageRecord,
    provider: Provider,
    payment: VerifiedPayment,
) -> int:
    """Record the purchase and credit its coins, inside the caller's transaction."""
    price = payment.price or package.price
    try:
        rows = await Purchase.raw(
            "INSERT INTO purchase (user_id, package_id, provider, provider_transaction_id, coins, "
            "bonus_coins, price_minor, currency, status, operation_id, created_at) "
            "VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}) RETURNING id",
            user_id,
            package.id,
            provider.value,
            payment.transaction_id,
            package.coins,
            package.bonus_coins,
            price.amount_minor,
            price.currency,
            PurchaseStatus.COMPLETED.value,
            started.id,
            utcnow(),
        )
    except Exception as error:
        if is_unique_violation(error):
            raise _already_used() from error
        raise
    purchase_id = rows[0]["id"]
    bonus = f" + {package.bonus_coins} bonus" if package.bonus_coins else ""
    await ledger.post_transfers(
        started,
        [
            ledger.Leg(
                TransferKind.PURCHASE,
                await ledger.system_account_id(AccountCode.COIN_ISSUANCE),
                await ledger.user_account_id(user_id, Currency.COIN),
                package.total_coins,
                f"Bought {package.coins} coins{bonus} ({provider.value.lower()})",
            )
        ],
    )
    await ledger.set_result(started, str(purchase_id))
    return purchase_id


async def record_webhook_payment(
    *,
    user_id: int,
    package_id: int,
    provider: Provider,
    payment: VerifiedPayment,
    idempotency_key: str,
) -> PurchaseRecord | None:
    """Credit a payment the provider confirmed by webhook; None when it was credited before.

    The operation carries the client's idempotency key with the request ``purchaseCoins``
    makes, so the client's call with that key returns this purchase.
    """
    request = purchase_request(package_id, provider, payment.transaction_id)

    async def work() -> int | None:
        if await _find_purchase(provider, payment.transaction_id) is not None:
            return None
        await users.get_user(user_id)
        try:
            started = await ledger.open_operation(
                PURCHASE_OPERATION,
                user_id=user_id,
                idempotency_key=idempotency_key,
                request=request,
            )
        except DomainError as error:
            if error.code is not ErrorCode.IDEMPOTENCY_KEY_REUSED:
                raise
            # The client used the key for something else: the payment still credits.
            log.warning("purchase.webhook_key_reused", transaction_id=payment.transaction_id)
            started = await ledger.open_operation(PURCHASE_OPERATION, user_id=user_id)
        if isinstance(started, ledger.Replay):
            return None
        package = await _package_for(package_id, provider)
        if payment.price is not None and payment.price != package.price:
            prices = await _all_prices(package.id)
            if payment.price not in prices:
                raise receipt_invalid("The amount paid is not a price of this package.")
        return await _credit(started, user_id, package, provider, payment)

    purchase_id = await in_transaction(work)
    return await get_purchase(purchase_id) if purchase_id is not None else None


async def _all_prices(package_id: int) -> list[Money]:
    rows = await CoinPackagePrice.select().where(CoinPackagePrice.package_id == package_id)
    return [Money(row["price_minor"], row["currency"]) for row in rows]


# Refunds -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Clawback:
    purchase_id: int
    coins: int
    balance_before: int
    balance_after: int


async def refund_purchase(
    provider: Provider, transaction_id: str, *, reason: str
) -> Clawback | None:
    """Mark the purchase REFUNDED and claw its coins back; None when it already was.

    Runs inside the caller's transaction when there is one (webhook dedupe).
    Raises NOT_FOUND when no purchase has this provider transaction id.
    """

    async def work() -> Clawback | None:
        purchase = await _find_purchase(provider, transaction_id)
        if purchase is None:
            raise DomainError(ErrorCode.NOT_FOUND, "No purchase for this provider transaction.")
        if purchase.status is PurchaseStatus.REFUNDED:
            return None
        started = await ledger.open_operation(CLAWBACK_OPERATION, user_id=purchase.user_id)
        # Only the first refund of a purchase finds it COMPLETED. A concurrent refund that
        # committed first makes this one start over, and then see REFUNDED above.
        claimed = await Purchase.raw(
            "UPDATE purchase SET status = {}, refund_operation_id = {}, refund_reason = {}, "
            "refunded_at = {} WHERE id = {} AND status = {} RETURNING id",
            PurchaseStatus.REFUNDED.value,
            started.id,
            reason[:64],
            utcnow(),
            purchase.id,
            PurchaseStatus.COMPLETED.value,
        )
        if not claimed:
            raise RetryTransaction("purchase refunded concurrently")
        [posted] = await ledger.post_transfers(
            started,
            [
                ledger.Leg(
                    TransferKind.REFUND_CLAWBACK,
                    await ledger.user_account_id(purchase.user_id, Currency.COIN),
                    await ledger.system_account_id(AccountCode.COIN_ISSUANCE),
                    purchase.total_coins,
                    f"Coins taken back: purchase refunded ({reason})",
                )
            ],
        )
        await ledger.set_result(started, str(purchase.id))
        clawback = Clawback(
            purchase_id=purchase.id,
            coins=purchase.total_coins,
            balance_before=posted.debit_balance_after + posted.amount,
            balance_after=posted.debit_balance_after,
        )
        if clawback.balance_before < clawback.coins:
            await fraud.raise_flag(
                purchase.user_id,
                FraudRule.REFUND_AFTER_SPEND,
                Severity.HIGH,
                {
                    "purchase_id": purchase.id,
                    "coins": clawback.coins,
                    "balance_before": clawback.balance_before,
                    "balance_after": clawback.balance_after,
                    "reason": reason,
                },
                pattern_key=f"purchase:{purchase.id}",
            )
        return clawback

    return await in_transaction(work)


# Reading -------------------------------------------------------------------------------


async def list_purchases(
    user_id: int, *, limit: int, before_id: int | None = None
) -> list[PurchaseRecord]:
    """Newest first."""
    query = Purchase.select().where(Purchase.user_id == user_id)
    if before_id is not None:
        query = query.where(Purchase.id < before_id)
    rows = await query.order_by(Purchase.id, ascending=False).limit(limit)
    return [_purchase(row) for row in rows]


async def money_spent_this_month(user_id: int) -> list[Money]:
    """Completed purchases since the start of this UTC month, per currency (refunds excluded)."""
    now = utcnow()
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    rows = await Purchase.select(Purchase.currency, Purchase.price_minor).where(
        (Purchase.user_id == user_id)
        & (Purchase.status == PurchaseStatus.COMPLETED.value)
        & (Purchase.created_at >= month_start)
    )
    totals: dict[str, int] = {}
    for row in rows:
        totals[row["currency"]] = totals.get(row["currency"], 0) + row["price_minor"]
    return [Money(amount, currency) for currency, amount in sorted(totals.items())]


# Webhook events ------------------------------------------------------------------------


async def claim_webhook_event(provider: Provider, event_id: str, event_type: str) -> bool:
    """Record an event as processed in the current transaction; False when seen before."""
    rows = await WebhookEvent.raw(
        "INSERT INTO purchase_webhook_event (provider, event_id, event_type, received_at) "
        "VALUES ({}, {}, {}, {}) ON CONFLICT DO NOTHING RETURNING id",
        provider.value,
        event_id[:255],
        event_type[:64],
        utcnow(),
    )
    return bool(rows)


async def money_taken_since(since: datetime) -> list[Money]:
    """Real money of purchases made since ``since`` that still stand (refunds excluded)."""
    rows = await Purchase.raw(
        "SELECT currency, SUM(price_minor) AS total FROM purchase "
        "WHERE created_at >= {} AND status = {} GROUP BY currency ORDER BY currency",
        since,
        PurchaseStatus.COMPLETED.value,
    )
    return [Money(int(row["total"]), row["currency"]) for row in rows]

"""Buying coins: crediting a verified payment once, and reading what a user bought.

Guarantees
- A purchase credits ``coins + bonus_coins`` from COIN_ISSUANCE to the buyer in the same
  ledger operation that records it; a provider transaction id credits at most once (unique
  index).
- ``purchase_coins`` with an idempotency key already used for the same input returns the
  first purchase; the same receipt under another key is RECEIPT_ALREADY_USED.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from piccolo.query.functions.aggregate import Sum

from app import ledger
from app.core.clock import as_utc, utcnow
from app.core.database import is_unique_violation
from app.core.errors import DomainError, ErrorCode
from app.core.events import emit
from app.core.money import Money
from app.core.transactions import in_transaction
from app.ledger import AccountCode, Currency, TransferKind
from app.purchases import limits as purchase_limits
from app.purchases.app_account import check_app_account_token
from app.purchases.codes import CheckoutStatus, Provider, PurchaseStatus
from app.purchases.packages import PackageRecord, all_prices, package_for
from app.purchases.tables import Checkout, Purchase
from app.purchases.verifiers import ReceiptVerifier, VerifiedPayment, receipt_invalid
from app.settings import PurchaseLimitSettings
from app.users import service as users

log = structlog.get_logger(__name__)

PURCHASE_OPERATION = "PURCHASE"


@dataclass(frozen=True, slots=True)
class CoinsSold:
    """Emitted once per committed purchase (never for a replay or a refused one)."""

    provider: Provider
    currency: str
    coins: int


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
    over_limit: bool = False

    @property
    def total_coins(self) -> int:
        return self.coins + self.bonus_coins


def purchase_record(row: dict[str, Any]) -> PurchaseRecord:
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
        over_limit=bool(row.get("over_limit", False)),
    )


def purchase_request(package_id: int, provider: Provider, receipt: str) -> dict[str, object]:
    """What an idempotency key is bound to (the Stripe webhook records the same)."""
    return {"package_id": package_id, "provider": provider.value, "receipt": receipt}


async def get_purchase(purchase_id: int) -> PurchaseRecord:
    row = await Purchase.select().where(Purchase.id == purchase_id).first()
    if row is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such purchase.")
    return purchase_record(row)


async def find_purchase(provider: Provider, transaction_id: str) -> PurchaseRecord | None:
    row = (
        await Purchase.select()
        .where(
            (Purchase.provider == provider.value)
            & (Purchase.provider_transaction_id == transaction_id)
        )
        .first()
    )
    return purchase_record(row) if row else None


async def _checkout_mismatched(payment_intent_id: str) -> bool:
    """Whether a web checkout was paid with another amount than its price (not credited)."""
    return await Checkout.exists().where(
        (Checkout.payment_intent_id == payment_intent_id)
        & (Checkout.status == CheckoutStatus.AMOUNT_MISMATCH.value)
    )


def _already_used() -> DomainError:
    return DomainError(
        ErrorCode.RECEIPT_ALREADY_USED, "This receipt has already been used.", "receipt"
    )


def _check_transaction_id(transaction_id: str) -> None:
    """A sandbox or Stripe receipt is its transaction id: one longer than the column failed
    in the database as a server error; it is the client's input."""
    limit = Purchase.provider_transaction_id.length
    if len(transaction_id) > limit:
        raise DomainError(
            ErrorCode.INVALID_INPUT, f"A receipt id is at most {limit} characters.", "receipt"
        )


async def purchase_coins(
    *,
    user_id: int,
    package_id: int,
    provider: Provider,
    receipt: str,
    idempotency_key: str,
    verifier: ReceiptVerifier,
    limits: PurchaseLimitSettings | None = None,
) -> PurchaseRecord:
    """Credit the package's coins for a payment the provider's ``verifier`` vouches for.

    Verification (signatures, certificate chains) runs before the transaction opens;
    everything it decides on is checked again inside it.
    """
    ledger.validate_idempotency_key(idempotency_key)
    users.require_can_transact(await users.get_user(user_id))
    payment = verifier.verify(receipt)
    _check_transaction_id(payment.transaction_id)
    if provider is Provider.APPLE:
        check_app_account_token(
            user_id, payment.app_account_token, required=payment.requires_app_account_token
        )

    async def build(operation: ledger.OpenOperation) -> ledger.Plan[int]:
        users.require_can_transact(await users.get_user(user_id))
        package = await package_for(package_id, provider)
        existing = await find_purchase(provider, payment.transaction_id)
        if payment.confirmed_by_webhook:
            # Same key as the webhook's metadata replays; anything else lands here.
            if existing is None:
                if await _checkout_mismatched(payment.transaction_id):
                    raise DomainError(
                        ErrorCode.PAYMENT_AMOUNT_MISMATCH,
                        "The amount paid was not the checkout's price; no coins were credited. "
                        "Contact support for a refund.",
                        "receipt",
                    )
                raise receipt_invalid("The payment is not confirmed yet; try again shortly.")
            raise _already_used()
        if existing is not None:
            raise _already_used()
        if payment.product_id is not None and payment.product_id != package.product_id:
            raise receipt_invalid("The receipt is for another product than this package.")
        return await _credit(operation, user_id, package, provider, payment, limits=limits)

    outcome = await ledger.run_operation(
        PURCHASE_OPERATION,
        user_id=user_id,
        idempotency_key=idempotency_key,
        request=purchase_request(package_id, provider, receipt),
        build=build,
    )
    return await get_purchase(int(outcome.result_ref or 0))


async def _credit(
    operation: ledger.OpenOperation,
    user_id: int,
    package: PackageRecord,
    provider: Provider,
    payment: VerifiedPayment,
    *,
    held: bool = False,
    limits: PurchaseLimitSettings | None = None,
) -> ledger.Plan[int]:
    """Record the purchase; the plan credits its coins (none when ``held``).

    The one place purchases are credited: the purchase limits hear of every one here
    (``record_purchase``), and one past them is credited all the same, marked over_limit.
    """
    price = payment.price or package.price
    over_limit = False
    if not held:
        over_limit = await purchase_limits.record_purchase(
            await users.get_user(user_id), price, limits or PurchaseLimitSettings()
        )
    try:
        rows = await Purchase.insert(
            Purchase(
                user_id=user_id,
                package_id=package.id,
                provider=provider.value,
                provider_transaction_id=payment.transaction_id,
                coins=package.coins,
                bonus_coins=package.bonus_coins,
                price_minor=price.amount_minor,
                currency=price.currency,
                status=(PurchaseStatus.HELD if held else PurchaseStatus.COMPLETED).value,
                operation_id=operation.id,
                created_at=utcnow(),
                over_limit=over_limit,
            )
        ).returning(Purchase.id)
    except Exception as error:
        if is_unique_violation(error):
            raise _already_used() from error
        raise
    purchase_id = rows[0]["id"]
    if held:
        return ledger.Plan([], str(purchase_id), purchase_id)
    emit(CoinsSold(provider, price.currency, package.total_coins))
    bonus = f" + {package.bonus_coins} bonus" if package.bonus_coins else ""
    leg = ledger.Leg(
        TransferKind.PURCHASE,
        await ledger.system_account_id(AccountCode.COIN_ISSUANCE, user_id),
        await ledger.user_account_id(user_id, Currency.COIN),
        package.total_coins,
        f"Bought {package.coins} coins{bonus} ({provider.value.lower()})",
    )
    return ledger.Plan([leg], str(purchase_id), purchase_id)


async def record_webhook_payment(
    *,
    user_id: int,
    package_id: int,
    provider: Provider,
    payment: VerifiedPayment,
    idempotency_key: str,
    limits: PurchaseLimitSettings | None = None,
    bound_price: Money | None = None,
) -> PurchaseRecord | None:
    """Credit a payment the provider confirmed by webhook; None when it was credited before.

    The operation carries the client's idempotency key with the request ``purchaseCoins``
    makes, so the client's call with that key returns this purchase.

    The money has already moved when the webhook arrives, so refusing is no option: for a
    minor or a frozen account the payment is recorded as a HELD purchase that credits no
    coins (nothing spendable), and logged for support, who refund it through the provider
    (its ``charge.refunded`` then marks it REFUNDED, nothing to claw back). Checked inside
    the transaction, so a freeze that commits first is honoured.

    ``bound_price`` is the price a checkout bound (the caller has checked it was paid); a
    payment without a checkout must be one of the package's prices.
    """
    request = purchase_request(package_id, provider, payment.transaction_id)

    async def build(operation: ledger.OpenOperation) -> ledger.Plan[int]:
        package = await package_for(package_id, provider)
        paid = payment.price
        if bound_price is not None:
            if paid != bound_price:
                raise DomainError(
                    ErrorCode.PAYMENT_AMOUNT_MISMATCH,
                    "The amount paid is not the price the checkout bound.",
                )
        elif (
            paid is not None and paid != package.price and paid not in await all_prices(package.id)
        ):
            raise receipt_invalid("The amount paid is not a price of this package.")
        user = await users.get_user(user_id)
        held = not user.is_adult or user.frozen
        if held:
            log.warning(
                "purchase.webhook_payment_held",
                user_id=user_id,
                transaction_id=payment.transaction_id,
                reason="minor" if not user.is_adult else "frozen",
            )
        return await _credit(
            operation, user_id, package, provider, payment, held=held, limits=limits
        )

    async def work() -> ledger.Outcome[int] | None:
        if await find_purchase(provider, payment.transaction_id) is not None:
            return None
        await users.get_user(user_id)
        try:
            return await ledger.run_operation(
                PURCHASE_OPERATION,
                user_id=user_id,
                idempotency_key=idempotency_key,
                request=request,
                build=build,
            )
        except DomainError as error:
            if error.code is not ErrorCode.IDEMPOTENCY_KEY_REUSED:
                raise
        # The client used the key for something else: the payment still credits.
        log.warning("purchase.webhook_key_reused", transaction_id=payment.transaction_id)
        return await ledger.run_operation(PURCHASE_OPERATION, user_id=user_id, build=build)

    outcome = await in_transaction(work)
    if outcome is None or outcome.replayed:
        return None
    return await get_purchase(int(outcome.result_ref or 0))


async def list_purchases(
    user_id: int, *, limit: int, before_id: int | None = None
) -> list[PurchaseRecord]:
    """Newest first."""
    query = Purchase.select().where(Purchase.user_id == user_id)
    if before_id is not None:
        query = query.where(Purchase.id < before_id)
    rows = await query.order_by(Purchase.id, ascending=False).limit(limit)
    return [purchase_record(row) for row in rows]


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


async def money_taken_since(since: datetime) -> list[Money]:
    """Real money of purchases made since ``since`` that still stand (refunds excluded)."""
    rows = (
        await Purchase.select(Purchase.currency, Sum(Purchase.price_minor).as_alias("total"))
        .where((Purchase.created_at >= since) & (Purchase.status == PurchaseStatus.COMPLETED.value))
        .group_by(Purchase.currency)
        .order_by(Purchase.currency)
    )
    return [Money(int(row["total"]), row["currency"]) for row in rows]

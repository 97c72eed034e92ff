"""Web checkout: a Stripe PaymentIntent for a web package at a country's price.

Flow: ``create_checkout`` → the web client confirms the PaymentIntent with Stripe.js →
Stripe's ``payment_intent.succeeded`` webhook credits the package (``settle_checkout``).

Guarantees
- Only an adult, unfrozen user within their purchase limits starts a checkout; nothing is
  paid yet, so the limits refuse here (PURCHASE_LIMIT_REACHED). An open checkout counts
  against the limits as if paid (``app.purchases.limits``): the check runs before Stripe is
  asked (nothing to create when it already fails) and again, under the user's limits lock,
  in the transaction that records the checkout, so two concurrent checkouts cannot both
  pass. One refused there leaves an unconfirmed PaymentIntent whose client secret nobody
  got: it can never be paid.
- A checkout binds the user, the package and the price in our database (and in the
  PaymentIntent's metadata); its webhook credits exactly that package once, and only when
  the amount and currency paid are that price. Anything else credits nothing: the checkout
  is marked AMOUNT_MISMATCH with what was paid and a fraud flag is raised for review.
- Idempotent per user key (a unique index on ``(user_id, idempotency_key)`` with the
  request's hash): the same key and input return the first checkout, another input is
  IDEMPOTENCY_KEY_REUSED. Stripe gets an idempotency key derived from it, so a retried or
  concurrent call never creates a second PaymentIntent. The webhook credits under the same
  key, so ``purchaseCoins(STRIPE, <PaymentIntent id>, <that key>)`` returns the purchase.
- The Stripe call is made outside any database transaction.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import stripe
import structlog

from app.core.clock import as_utc, utcnow
from app.core.countries import normalize_country
from app.core.database import is_unique_violation
from app.core.errors import DomainError, ErrorCode
from app.core.events import emit
from app.core.ids import encode_id
from app.core.money import Money
from app.core.transactions import in_transaction
from app.ledger import request_fingerprint, validate_idempotency_key
from app.purchases.codes import CheckoutStatus, Provider
from app.purchases.limits import ensure_purchase_allowed, lock_purchase_limits
from app.purchases.packages import PackageRecord, package_for
from app.purchases.tables import Checkout, CoinPackagePrice
from app.settings import PaymentSettings, PurchaseLimitSettings
from app.users import service as users

log = structlog.get_logger(__name__)

# Marks a PaymentIntent as a web checkout's in its metadata (the webhook looks it up).
CHECKOUT_MARK = "coins_checkout"


@dataclass(frozen=True, slots=True)
class CheckoutRecord:
    id: int
    user_id: int
    package_id: int
    country: str | None
    price: Money
    idempotency_key: str
    payment_intent_id: str
    status: CheckoutStatus
    paid: Money | None
    purchase_id: int | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class PaymentAmountMismatch:
    """Emitted when a checkout was paid with another amount than its price (nothing
    credited): the fraud rules put it in front of a moderator (``app.wiring``)."""

    user_id: int
    checkout_id: int
    payment_intent_id: str
    event_id: str
    bound: Money
    paid: Money | None


@dataclass(frozen=True, slots=True)
class StartedCheckout:
    """What the web client needs: ``client_secret`` goes to Stripe.js (never logged)."""

    checkout: CheckoutRecord
    client_secret: str


def checkout_record(row: dict[str, Any]) -> CheckoutRecord:
    paid = (
        Money(row["paid_minor"], row["paid_currency"])
        if row["paid_minor"] is not None and row["paid_currency"]
        else None
    )
    return CheckoutRecord(
        id=row["id"],
        user_id=row["user_id"],
        package_id=row["package_id"],
        country=row["country"] or None,
        price=Money(row["price_minor"], row["currency"]),
        idempotency_key=row["idempotency_key"],
        payment_intent_id=row["payment_intent_id"],
        status=CheckoutStatus(row["status"]),
        paid=paid,
        purchase_id=row["purchase_id"],
        created_at=as_utc(row["created_at"]),
    )


async def checkout_for_intent(payment_intent_id: str) -> CheckoutRecord | None:
    row = await Checkout.select().where(Checkout.payment_intent_id == payment_intent_id).first()
    return checkout_record(row) if row else None


async def _by_key(user_id: int, key: str) -> dict[str, Any] | None:
    return (
        await Checkout.select()
        .where((Checkout.user_id == user_id) & (Checkout.idempotency_key == key))
        .first()
    )


async def checkout_price(package: PackageRecord, country: str | None) -> Money:
    """The country's own price of ``package`` where it has one, else its default price."""
    if country:
        row = (
            await CoinPackagePrice.select()
            .where(
                (CoinPackagePrice.package_id == package.id) & (CoinPackagePrice.country == country)
            )
            .first()
        )
        if row is not None:
            return Money(row["price_minor"], row["currency"])
    return package.price


@asynccontextmanager
async def _stripe_client(payments: PaymentSettings) -> AsyncIterator[stripe.StripeClient]:
    """The ``stripe`` library's client on our key and API base; its connections close after."""
    if not payments.stripe_secret_key:
        raise DomainError(
            ErrorCode.PAYMENT_PROVIDER_UNAVAILABLE, "Web checkout is not configured on this server."
        )
    http = stripe.HTTPXClient(timeout=payments.stripe_timeout_s)
    try:
        yield stripe.StripeClient(
            payments.stripe_secret_key,
            base_addresses={"api": payments.stripe_api_base},
            http_client=http,
            max_network_retries=2,
        )
    except stripe.StripeError as error:
        raise _unavailable(error) from None
    finally:
        await http.close_async()


def _unavailable(error: stripe.StripeError) -> DomainError:
    log.warning(
        "checkout.stripe_error",
        error=type(error).__name__,
        status=error.http_status,
        code=error.code,
    )
    return DomainError(
        ErrorCode.PAYMENT_PROVIDER_UNAVAILABLE,
        "The payment provider could not start the checkout; try again with the same key.",
    )


async def _create_intent(
    payments: PaymentSettings, user_id: int, package: PackageRecord, price: Money, key: str
) -> stripe.PaymentIntent:
    async with _stripe_client(payments) as client:
        return await client.v1.payment_intents.create_async(
            {
                "amount": price.amount_minor,
                "currency": price.currency.lower(),
                "automatic_payment_methods": {"enabled": True},
                "description": f"{package.total_coins} coins",
                "metadata": {
                    CHECKOUT_MARK: "1",
                    "user_id": encode_id("User", user_id),
                    "package_id": encode_id("CoinPackage", package.id),
                    "price_minor": str(price.amount_minor),
                    "currency": price.currency,
                    "idempotency_key": key,
                },
            },
            # Stripe keys are per account: the user id keeps two users' keys apart.
            {"idempotency_key": f"coins-checkout-{user_id}-{key}"},
        )


async def _client_secret(payments: PaymentSettings, payment_intent_id: str) -> str:
    """A replayed checkout's client secret, read back from Stripe (we never store it)."""
    async with _stripe_client(payments) as client:
        intent = await client.v1.payment_intents.retrieve_async(payment_intent_id)
    return str(intent.client_secret)


def _replayed(row: dict[str, Any], fingerprint: str) -> CheckoutRecord:
    if row["request_hash"] != fingerprint:
        raise DomainError(
            ErrorCode.IDEMPOTENCY_KEY_REUSED,
            "This idempotency key was already used for a different request.",
            "idempotencyKey",
        )
    return checkout_record(row)


async def create_checkout(
    *,
    user_id: int,
    package_id: int,
    country: str | None,
    idempotency_key: str,
    payments: PaymentSettings,
    limits: PurchaseLimitSettings,
) -> StartedCheckout:
    """Start paying for a web package at ``country``'s price (see the module's guarantees)."""
    validate_idempotency_key(idempotency_key)
    country = normalize_country(country)
    fingerprint = request_fingerprint(
        {"kind": "CHECKOUT", "package_id": package_id, "country": country or ""}
    )
    existing = await _by_key(user_id, idempotency_key)
    if existing is not None:
        record = _replayed(existing, fingerprint)
        return StartedCheckout(record, await _client_secret(payments, record.payment_intent_id))
    user = users.require_can_transact(await users.get_user(user_id))
    package = await package_for(package_id, Provider.STRIPE)
    price = await checkout_price(package, country)
    await ensure_purchase_allowed(user, price, limits)
    intent = await _create_intent(payments, user_id, package, price, idempotency_key)
    if intent.amount != price.amount_minor or str(intent.currency).upper() != price.currency:
        raise DomainError(
            ErrorCode.PAYMENT_PROVIDER_UNAVAILABLE, "The payment provider answered another price."
        )

    async def record() -> dict[str, Any]:
        await lock_purchase_limits(user_id)
        # A concurrent call with this key got the same PaymentIntent and recorded it first.
        existing = await _by_key(user_id, idempotency_key)
        if existing is not None:
            return existing
        # Again, now that no other checkout of this user can commit meanwhile.
        try:
            await ensure_purchase_allowed(await users.get_user(user_id), price, limits)
        except DomainError:
            log.info("checkout.refused_after_intent", user_id=user_id, intent=intent.id)
            raise
        rows = await Checkout.insert(
            Checkout(
                user_id=user_id,
                package_id=package.id,
                country=country or "",
                price_minor=price.amount_minor,
                currency=price.currency,
                idempotency_key=idempotency_key,
                request_hash=fingerprint,
                payment_intent_id=intent.id,
                status=CheckoutStatus.OPEN.value,
                created_at=utcnow(),
            )
        ).returning(Checkout.id)
        row = await Checkout.select().where(Checkout.id == rows[0]["id"]).first()
        assert row is not None
        return row

    try:
        row = await in_transaction(record)
    except Exception as error:
        if not is_unique_violation(error):
            raise
        found = await _by_key(user_id, idempotency_key)
        if found is None:
            raise
        row = found
    return StartedCheckout(_replayed(row, fingerprint), str(intent.client_secret))


async def mark_paid(checkout: CheckoutRecord, purchase_id: int | None, paid: Money) -> None:
    """The webhook credited the checkout's package (in the webhook's transaction)."""
    await Checkout.update(
        {
            Checkout.status: CheckoutStatus.PAID.value,
            Checkout.purchase_id: purchase_id,
            Checkout.paid_minor: paid.amount_minor,
            Checkout.paid_currency: paid.currency,
            Checkout.settled_at: utcnow(),
        }
    ).where(Checkout.id == checkout.id)


async def mark_mismatch(checkout: CheckoutRecord, paid: Money | None, event_id: str) -> None:
    """Stripe reported another amount than the bound price: record it, credit nothing, and
    tell the fraud rules after commit (in the webhook's transaction)."""
    await Checkout.update(
        {
            Checkout.status: CheckoutStatus.AMOUNT_MISMATCH.value,
            Checkout.paid_minor: paid.amount_minor if paid else None,
            Checkout.paid_currency: paid.currency if paid else None,
            Checkout.settled_at: utcnow(),
        }
    ).where(Checkout.id == checkout.id)
    emit(
        PaymentAmountMismatch(
            user_id=checkout.user_id,
            checkout_id=checkout.id,
            payment_intent_id=checkout.payment_intent_id,
            event_id=event_id,
            bound=checkout.price,
            paid=paid,
        )
    )
    log.warning(
        "checkout.amount_mismatch",
        checkout_id=checkout.id,
        user_id=checkout.user_id,
        code=ErrorCode.PAYMENT_AMOUNT_MISMATCH.value,
    )

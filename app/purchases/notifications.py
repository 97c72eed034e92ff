"""Provider notifications: Stripe events and Apple App Store Server Notifications V2.

Each event is processed once: its id is recorded in the same transaction as its effect, so
a redelivery changes nothing. Unknown event types are recorded and ignored. No web imports:
the web edge turns outcomes into HTTP statuses.
"""

from __future__ import annotations

import enum
from typing import Any

import structlog

from app.core.clock import utcnow
from app.core.errors import DomainError, ErrorCode
from app.core.ids import decode_opaque
from app.core.money import Money
from app.core.transactions import in_transaction
from app.purchases import checkout as checkouts
from app.purchases.buying import find_purchase, record_webhook_payment
from app.purchases.codes import Provider
from app.purchases.refunds import refund_purchase
from app.purchases.tables import WebhookEvent
from app.purchases.verifiers import VerifiedPayment
from app.purchases.verifiers.apple import AppleNotification
from app.settings import PurchaseLimitSettings

log = structlog.get_logger(__name__)

STRIPE_REFUND_EVENTS = {"charge.refunded": "refund", "charge.dispute.created": "chargeback"}
APPLE_REFUND_TYPES = {"REFUND": "refund"}


class Outcome(enum.StrEnum):
    PROCESSED = "processed"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"
    # A checkout's payment of another amount than its bound price: recorded, not credited.
    AMOUNT_MISMATCH = "amount_mismatch"


class NotReady(Exception):
    """The event refers to a purchase not recorded yet: the provider should deliver it again."""


async def handle_stripe_event(
    event: dict[str, Any], limits: PurchaseLimitSettings | None = None
) -> Outcome:
    event_id, event_type = str(event["id"]), str(event.get("type", ""))
    data = event.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    if not isinstance(obj, dict):
        return await _ignore(Provider.STRIPE, event_id, event_type)
    if event_type == "payment_intent.succeeded":
        return await _stripe_payment(event_id, event_type, obj, limits)
    if event_type in STRIPE_REFUND_EVENTS:
        return await _refund(
            Provider.STRIPE,
            event_id,
            event_type,
            _payment_intent_of(obj),
            STRIPE_REFUND_EVENTS[event_type],
        )
    return await _ignore(Provider.STRIPE, event_id, event_type)


async def handle_apple_notification(notification: AppleNotification) -> Outcome:
    kind = notification.notification_type
    if kind in APPLE_REFUND_TYPES and notification.transaction_id:
        return await _refund(
            Provider.APPLE,
            notification.notification_id,
            kind,
            notification.transaction_id,
            APPLE_REFUND_TYPES[kind],
        )
    return await _ignore(Provider.APPLE, notification.notification_id, kind)


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


async def _ignore(provider: Provider, event_id: str, event_type: str) -> Outcome:
    async def work() -> Outcome:
        if not await claim_webhook_event(provider, event_id, event_type):
            return Outcome.DUPLICATE
        return Outcome.IGNORED

    return await in_transaction(work)


def _payment_intent_of(obj: dict[str, Any]) -> str | None:
    intent = obj.get("payment_intent")
    if isinstance(intent, dict):
        intent = intent.get("id")
    return intent if isinstance(intent, str) and intent else None


def _metadata_id(metadata: dict[str, Any], key: str, kind: str) -> int:
    raw = str(metadata.get(key, ""))
    number = decode_opaque(kind, raw)
    if number is None and raw.isdigit():
        number = int(raw)
    if number is None:
        raise DomainError(ErrorCode.INVALID_INPUT, f"PaymentIntent metadata lacks {key}.", key)
    return number


async def _stripe_payment(
    event_id: str,
    event_type: str,
    intent: dict[str, Any],
    limits: PurchaseLimitSettings | None = None,
) -> Outcome:
    metadata = intent.get("metadata")
    metadata = metadata if isinstance(metadata, dict) else {}
    intent_id = intent.get("id")
    if not isinstance(intent_id, str) or not intent_id:
        raise DomainError(ErrorCode.INVALID_INPUT, "The event carries no PaymentIntent id.")
    user_id = _metadata_id(metadata, "user_id", "User")
    package_id = _metadata_id(metadata, "package_id", "CoinPackage")
    key = str(metadata.get("idempotency_key") or f"stripe:{intent_id}")
    amount, currency = intent.get("amount_received", intent.get("amount")), intent.get("currency")
    price = (
        Money(amount, str(currency).upper())
        if isinstance(amount, int) and isinstance(currency, str)
        else None
    )
    payment = VerifiedPayment(transaction_id=intent_id, price=price, confirmed_by_webhook=True)
    if metadata.get(checkouts.CHECKOUT_MARK):
        return await _checkout_payment(event_id, event_type, payment, limits)

    async def work() -> Outcome:
        if not await claim_webhook_event(Provider.STRIPE, event_id, event_type):
            return Outcome.DUPLICATE
        await record_webhook_payment(
            user_id=user_id,
            package_id=package_id,
            provider=Provider.STRIPE,
            payment=payment,
            idempotency_key=key,
            limits=limits,
        )
        return Outcome.PROCESSED

    return await in_transaction(work)


async def _checkout_payment(
    event_id: str,
    event_type: str,
    payment: VerifiedPayment,
    limits: PurchaseLimitSettings | None,
) -> Outcome:
    """A web checkout's payment credits its bound package once, at its bound price only.

    The checkout row (ours) decides the user, the package and the price; the metadata only
    led here. Another amount or currency credits nothing and is recorded on the checkout.
    """

    async def work() -> Outcome:
        checkout = await checkouts.checkout_for_intent(payment.transaction_id)
        if checkout is None:
            # createCheckout has not recorded it yet (Stripe answered, the insert is running).
            raise NotReady(f"no checkout for {payment.transaction_id} yet")
        if not await claim_webhook_event(Provider.STRIPE, event_id, event_type):
            return Outcome.DUPLICATE
        if payment.price != checkout.price:
            if await find_purchase(Provider.STRIPE, payment.transaction_id) is None:
                await checkouts.mark_mismatch(checkout, payment.price, event_id)
            return Outcome.AMOUNT_MISMATCH
        await record_webhook_payment(
            user_id=checkout.user_id,
            package_id=checkout.package_id,
            provider=Provider.STRIPE,
            payment=payment,
            idempotency_key=checkout.idempotency_key,
            limits=limits,
            bound_price=checkout.price,
        )
        purchase = await find_purchase(Provider.STRIPE, payment.transaction_id)
        if checkout.purchase_id is None and purchase is not None:
            await checkouts.mark_paid(checkout, purchase.id, checkout.price)
        return Outcome.PROCESSED

    return await in_transaction(work)


async def _refund(
    provider: Provider, event_id: str, event_type: str, transaction_id: str | None, reason: str
) -> Outcome:
    if transaction_id is None:
        return await _ignore(provider, event_id, event_type)

    async def work() -> Outcome:
        if not await claim_webhook_event(provider, event_id, event_type):
            return Outcome.DUPLICATE
        try:
            clawback = await refund_purchase(provider, transaction_id, reason=reason)
        except DomainError as error:
            if error.code is ErrorCode.NOT_FOUND:
                # The payment's own event has not arrived yet (events come in any order).
                raise NotReady(f"no purchase for {provider.value} {transaction_id} yet") from None
            raise
        if clawback is not None:
            log.info(
                "purchase.clawback",
                purchase_id=clawback.purchase_id,
                coins=clawback.coins,
                balance_after=clawback.balance_after,
            )
        return Outcome.PROCESSED

    return await in_transaction(work)

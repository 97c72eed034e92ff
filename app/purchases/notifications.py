"""Provider notifications: Stripe events, Apple App Store Server Notifications V2 and Google
Play real-time developer notifications.

Each event is processed once: its id is recorded in the same transaction as its effect, so
a redelivery changes nothing. Unknown event types are recorded and ignored. No web imports:
the web edge turns outcomes into HTTP statuses.

Refunds and disputes (``app.purchases.refunds``):
- Stripe ``charge.refunded``: the charge's cumulative ``amount_refunded`` of its ``amount``
  (all of it when the figures are missing); ``charge.dispute.created`` holds the disputed
  coins; ``charge.dispute.closed`` releases them (``won``, ``warning_closed``) or takes them
  (``lost``); other closing statuses are recorded and ignored.
- Apple ``REFUND`` (``REFUND_PRORATED`` with its ``revocationPercentage``: that share),
  ``REFUND_REVERSED`` gives the coins back, ``CONSUMPTION_REQUEST`` is answered after it is
  recorded (``app.purchases.consumption``).
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
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
from app.purchases.consumption import ConsumptionReporter, answer_consumption_request
from app.purchases.refunds import (
    RefundShare,
    close_dispute,
    open_dispute,
    refund_purchase,
    reverse_refund,
)
from app.purchases.tables import WebhookEvent
from app.purchases.verifiers import VerifiedPayment
from app.purchases.verifiers.apple import AppleNotification
from app.purchases.verifiers.google import GoogleNotification
from app.settings import PurchaseLimitSettings

log = structlog.get_logger(__name__)

STRIPE_REFUND_EVENTS = {"charge.refunded": "refund"}
STRIPE_DISPUTE_EVENTS = {"charge.dispute.created", "charge.dispute.closed"}
# How a closed Stripe dispute ends for the buyer's coins: True released, False taken.
STRIPE_DISPUTE_OUTCOMES = {"won": True, "warning_closed": True, "lost": False}
APPLE_REFUND_TYPES = {"REFUND": "refund"}
GOOGLE_REFUND_KINDS = {"VOIDED": "refund"}
APPLE_FULL_MILLI = 100_000


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
            _stripe_share(obj),
        )
    if event_type in STRIPE_DISPUTE_EVENTS:
        return await _stripe_dispute(event_id, event_type, obj)
    return await _ignore(Provider.STRIPE, event_id, event_type)


def _stripe_share(charge: dict[str, Any]) -> RefundShare | None:
    """The refunded share of a charge; None (all of it) without usable figures."""
    amount, refunded = charge.get("amount"), charge.get("amount_refunded")
    if not isinstance(amount, int) or not isinstance(refunded, int) or amount <= 0:
        return None
    if charge.get("refunded") is True:
        return None
    return RefundShare(refunded, amount)


async def _stripe_dispute(event_id: str, event_type: str, dispute: dict[str, Any]) -> Outcome:
    intent, dispute_id = _payment_intent_of(dispute), dispute.get("id")
    if intent is None or not isinstance(dispute_id, str) or not dispute_id:
        return await _ignore(Provider.STRIPE, event_id, event_type)
    amount = dispute.get("amount")
    amount_minor = amount if isinstance(amount, int) and amount >= 0 else None
    reason = f"chargeback: {dispute.get('reason') or 'dispute'}"
    if event_type == "charge.dispute.created":

        async def apply() -> None:
            await open_dispute(
                Provider.STRIPE, intent, dispute_id, amount_minor=amount_minor, reason=reason
            )

        return await _effect(Provider.STRIPE, event_id, event_type, intent, apply)
    won = STRIPE_DISPUTE_OUTCOMES.get(str(dispute.get("status", "")))
    if won is None:
        return await _ignore(Provider.STRIPE, event_id, event_type)

    async def close() -> None:
        await close_dispute(
            Provider.STRIPE, intent, dispute_id, won=won, amount_minor=amount_minor, reason=reason
        )

    return await _effect(Provider.STRIPE, event_id, event_type, intent, close)


async def handle_apple_notification(
    notification: AppleNotification, *, consumption: ConsumptionReporter | None = None
) -> Outcome:
    """``consumption`` answers CONSUMPTION_REQUEST (None: not configured, nothing sent)."""
    kind, transaction_id = notification.notification_type, notification.transaction_id
    event_id = notification.notification_id
    if kind in APPLE_REFUND_TYPES and transaction_id:
        return await _refund(
            Provider.APPLE,
            event_id,
            kind,
            transaction_id,
            APPLE_REFUND_TYPES[kind],
            _apple_share(notification),
        )
    if kind == "REFUND_REVERSED" and transaction_id:

        async def reinstate() -> None:
            await reverse_refund(Provider.APPLE, transaction_id, reason="refund reversed")

        return await _effect(Provider.APPLE, event_id, kind, transaction_id, reinstate)
    if kind == "CONSUMPTION_REQUEST" and transaction_id:
        outcome = await _ignore(Provider.APPLE, event_id, kind)
        if outcome is Outcome.DUPLICATE:
            return outcome
        # Recorded and committed first: the API call is never inside a transaction.
        await answer_consumption_request(transaction_id, consumption)
        return Outcome.PROCESSED
    return await _ignore(Provider.APPLE, event_id, kind)


def _apple_share(notification: AppleNotification) -> RefundShare | None:
    percentage = notification.revocation_percentage
    if notification.revocation_type != "REFUND_PRORATED" or percentage is None:
        return None
    return RefundShare(percentage, APPLE_FULL_MILLI)


async def handle_google_notification(notification: GoogleNotification) -> Outcome:
    """A voided one-time purchase claws back; everything else is recorded and ignored (the
    app reports its own purchases with ``purchaseCoins``)."""
    kind, token = notification.kind, notification.purchase_token
    if kind in GOOGLE_REFUND_KINDS and token:
        try:
            return await _refund(
                Provider.GOOGLE, notification.message_id, kind, token, GOOGLE_REFUND_KINDS[kind]
            )
        except NotReady:
            # Never credited: most often a purchase we refused, which Google refunds by
            # itself when nobody consumes it. Redelivering would not change that; a credit
            # racing this notification is caught by the voided-purchases poll.
            log.info("purchase.google_voided_unknown", message_id=notification.message_id)
    return await _ignore(Provider.GOOGLE, notification.message_id, kind)


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
    provider: Provider,
    event_id: str,
    event_type: str,
    transaction_id: str | None,
    reason: str,
    share: RefundShare | None = None,
) -> Outcome:
    if transaction_id is None:
        return await _ignore(provider, event_id, event_type)

    async def apply() -> None:
        clawback = await refund_purchase(provider, transaction_id, reason=reason, share=share)
        if clawback is not None:
            log.info(
                "purchase.clawback",
                purchase_id=clawback.purchase_id,
                coins=clawback.coins,
                balance_after=clawback.balance_after,
            )

    return await _effect(provider, event_id, event_type, transaction_id, apply)


async def _effect(
    provider: Provider,
    event_id: str,
    event_type: str,
    transaction_id: str,
    apply: Callable[[], Awaitable[None]],
) -> Outcome:
    """Record the event and ``apply`` its effect in one transaction, once."""

    async def work() -> Outcome:
        if not await claim_webhook_event(provider, event_id, event_type):
            return Outcome.DUPLICATE
        try:
            await apply()
        except DomainError as error:
            if error.code is ErrorCode.NOT_FOUND:
                # The payment's own event has not arrived yet (events come in any order).
                raise NotReady(f"no purchase for {provider.value} {transaction_id} yet") from None
            raise
        return Outcome.PROCESSED

    return await in_transaction(work)

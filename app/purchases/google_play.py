"""Google Play's Voided Purchases API, polled: the safety net under the notifications.

A real-time developer notification can be lost or race the credit it refunds; the poll reads
every purchase Google voided in the window (refunds, chargebacks, Google's own refunds of
purchases nobody consumed) and claws back those we credited. ``refund_purchase`` claws back
at most once per purchase, so overlapping windows, repeated runs and a notification that
already did it change nothing. Run it from cron (``coins google poll-voided``), daily or so.

A void takes back the whole purchase, also a quantity-based partial refund (``voidedQuantity``
here, ``refundType`` 2 in a notification): only single-quantity purchases are credited (the
verifier refuses any other ``quantity``), so the voided quantity is always the one unit bought.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

import structlog

from app.core.clock import utcnow
from app.core.errors import DomainError, ErrorCode
from app.purchases.codes import Provider
from app.purchases.refunds import refund_purchase
from app.purchases.verifiers.google import GooglePlay
from app.settings import PaymentSettings

log = structlog.get_logger(__name__)

# Google answers for the last 30 days at most.
MAX_WINDOW_DAYS = 30
# VoidedPurchase.voidedReason
CHARGEBACK_REASONS = frozenset({7})


@dataclass(frozen=True, slots=True)
class VoidedPoll:
    voided: int
    clawed_back: int
    # Voided purchases we never credited (refused receipts, or not ours to take back).
    unknown: int


async def poll_voided_purchases(payments: PaymentSettings, *, days: int = 30) -> VoidedPoll:
    """Claw back every purchase Google voided in the last ``days`` (at most 30)."""
    play = GooglePlay.from_settings(payments)
    days = max(1, min(days, MAX_WINDOW_DAYS))
    start_ms = int((utcnow() - timedelta(days=days)).timestamp() * 1000)
    voided = await asyncio.to_thread(play.voided_purchases, start_ms)
    clawed_back = unknown = 0
    for entry in voided:
        token = entry.get("purchaseToken")
        if not isinstance(token, str) or not token:
            continue
        reason = "chargeback" if entry.get("voidedReason") in CHARGEBACK_REASONS else "refund"
        try:
            clawback = await refund_purchase(Provider.GOOGLE, token, reason=reason)
        except DomainError as error:
            if error.code is not ErrorCode.NOT_FOUND:
                raise
            unknown += 1
            continue
        if clawback is not None:
            clawed_back += 1
            log.info(
                "purchase.clawback",
                purchase_id=clawback.purchase_id,
                coins=clawback.coins,
                balance_after=clawback.balance_after,
            )
    return VoidedPoll(len(voided), clawed_back, unknown)

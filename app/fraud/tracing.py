"""Tracing refunded coins to the gifts they paid for, and to the creators who received them.

When a purchase's coins are lost for good (refunded, or a dispute lost) they are clawed
back, often into a negative balance because the buyer already turned them into gifts.
``trace_refunded_coins`` follows the money one step further:

- The gifts the lost coins paid for are the buyer's gifts sent after the purchase, oldest
  first, until their coins reach the coins the purchase has lost (the last one counted
  whole). Gifts reversed for another reason are skipped: their coins already came back.
- Gifts still maturing (younger than ``EconomySettings.earnings_maturation_days``; their
  diamonds cannot have been paid out) are reversed through the moderators' machinery
  (``app.fraud.review.reverse_gift``): the coins go back to the buyer, towards the debt the
  clawback left, and the diamonds back from the creator, each reversal one audited ledger
  operation, recorded on the purchase in the same transaction
  (``app.purchases.refunds.reverse_traced_gift``) so that coins given back later (a refund
  reversed, a dispute won after it was lost) are not given twice. Matured gifts are left
  alone (their diamonds may be paid out already).
- Every creator who received a traced gift is flagged (REFUNDED_COINS_GIFTED, HIGH) with
  the evidence: buyer, purchase, gifts, what was reversed and what had matured.

Coins an open dispute holds are not lost: the dispute may be won, and the gifts then
stand. Nothing is traced when a dispute opens; meanwhile auto-approval leaves the creators
the buyer gifted to staff (``creator_cleared``: the buyer is contested).

It runs after the loss commits, in transactions of its own (heard on the
``PurchaseCoinsLost`` event, wired in ``app.wiring``), not inside the clawback's: the
clawback is a fact the provider reported and must commit and be acknowledged whatever the
tracing meets, and the tracing locks the accounts of creators and coin-sink shards that
the clawback's short transaction should not wait for. A crash in between loses nothing for
good: the tracing is idempotent (a reversal is unique per gift event and is recognised as
this purchase's by its reason; a flag is raised once per creator and purchase, even after
a moderator closed it) and ``fraud scan`` runs it again for recent losses. It reads the
coins lost when it runs, so a late run after the coins were given back reverses nothing.

``creator_cleared`` is auto-approval's question: no open flag, and no gifts in the lookback
from a buyer with a refunded or contested purchase.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta

import structlog

from app.audit.service import Actor
from app.core.clock import utcnow
from app.core.errors import DomainError
from app.core.transactions import in_transaction
from app.fraud import review
from app.fraud import service as fraud
from app.fraud.codes import FraudRule, Severity
from app.gifts import queries as gift_events
from app.gifts.queries import GiftEventRecord
from app.payouts import maturation
from app.purchases import contested, refunds
from app.purchases.buying import get_purchase
from app.settings import FraudSettings

log = structlog.get_logger(__name__)

TRACER = Actor(staff_id=None, handle="refund-tracing", role="SYSTEM")
PAGE = 100
MAX_EVIDENCE_EVENTS = 50


@dataclass(frozen=True, slots=True)
class Trace:
    """What one refunded purchase's coins were traced to."""

    purchase_id: int
    buyer_id: int
    clawed_coins: int
    traced_coins: int
    gift_event_ids: list[int] = field(default_factory=list)
    reversed_event_ids: list[int] = field(default_factory=list)
    flagged_creator_ids: list[int] = field(default_factory=list)


def reversal_reason(purchase_id: int) -> str:
    """The reason written on this purchase's reversals: how a re-run recognises them."""
    return f"Paid for with coins of purchase #{purchase_id}, refunded or charged back"


async def trace_refunded_coins(purchase_id: int, *, maturation_days: int) -> Trace:
    """Reverse the still-maturing gifts the purchase's lost coins paid for; flag their
    creators.

    Safe to run again for the same purchase (see the module's guarantees)."""
    purchase = await get_purchase(purchase_id)
    # All the coins the purchase has lost for good now (refunds, lost disputes; not those
    # an open dispute holds), not only the last loss's: a second partial refund's gifts
    # come after the first one's, which the walk below passes again. None once given back.
    clawed_coins = await refunds.lost_coins(purchase_id)
    buyer_id = purchase.user_id
    ours = reversal_reason(purchase_id)
    traced: list[GiftEventRecord] = []
    already: set[int] = set()  # reversed by an earlier run of this trace
    covered = 0
    after = 0
    while covered < clawed_coins:
        page = await gift_events.sent_from(buyer_id, purchase.created_at, after_id=after)
        if not page:
            break
        reversals = await review.reversals_of([event.id for event in page])
        for event in page:
            after = event.id
            reversal = reversals.get(event.id)
            if reversal is not None and reversal.reason != ours:
                continue  # reversed for another reason: its coins already came back
            if reversal is not None:
                already.add(event.id)
            traced.append(event)
            covered += event.coins
            if covered >= clawed_coins:
                break

    cutoff = maturation.window_start(maturation_days)
    reversed_ids = sorted(already)
    for event in traced:
        if event.id in already or maturation_days <= 0 or event.created_at <= cutoff:
            continue
        try:
            await refunds.reverse_traced_gift(
                purchase_id, event.coins, _reversal(event.id, ours), reason="gift reversed"
            )
        except DomainError as error:
            # Reversed concurrently (by a moderator or a re-run), or the purchase's coins
            # were given back meanwhile: nothing left to cover.
            log.info("fraud.trace_reversal_skipped", gift_event_id=event.id, reason=error.message)
            continue
        reversed_ids.append(event.id)

    by_host: dict[int, list[GiftEventRecord]] = defaultdict(list)
    for event in traced:
        by_host[event.host_id].append(event)
    flagged = await in_transaction(
        lambda: _flag_creators(purchase_id, buyer_id, clawed_coins, by_host, set(reversed_ids))
    )
    trace = Trace(
        purchase_id=purchase_id,
        buyer_id=buyer_id,
        clawed_coins=clawed_coins,
        traced_coins=min(covered, clawed_coins),
        gift_event_ids=[event.id for event in traced],
        reversed_event_ids=sorted(reversed_ids),
        flagged_creator_ids=flagged,
    )
    if traced:
        log.info(
            "fraud.refund_traced",
            purchase_id=purchase_id,
            gifts=len(traced),
            reversed=len(reversed_ids),
            creators=len(by_host),
        )
    return trace


def _reversal(gift_event_id: int, reason: str) -> Callable[[], Awaitable[int]]:
    async def reverse() -> int:
        return (await review.reverse_gift(gift_event_id, actor=TRACER, reason=reason)).operation_id

    return reverse


async def _flag_creators(
    purchase_id: int,
    buyer_id: int,
    clawed_coins: int,
    by_host: dict[int, list[GiftEventRecord]],
    reversed_ids: set[int],
) -> list[int]:
    """One HIGH flag per creator and purchase, never raised twice (even once closed)."""
    flagged = []
    key = f"purchase:{purchase_id}"
    for host_id in sorted(by_host):
        if await fraud.flag_raised_before(host_id, FraudRule.REFUNDED_COINS_GIFTED, key):
            continue
        events = by_host[host_id]
        gone = [e for e in events if e.id in reversed_ids]
        kept = [e for e in events if e.id not in reversed_ids]
        await fraud.raise_flag(
            host_id,
            FraudRule.REFUNDED_COINS_GIFTED,
            Severity.HIGH,
            {
                "buyer_id": buyer_id,
                "purchase_id": purchase_id,
                "clawed_back_coins": clawed_coins,
                "gift_event_ids": [e.id for e in events][:MAX_EVIDENCE_EVENTS],
                "gift_coins": sum(e.coins for e in events),
                "reversed_gift_event_ids": [e.id for e in gone][:MAX_EVIDENCE_EVENTS],
                "reversed_diamonds": sum(e.diamonds for e in gone),
                "matured_diamonds_kept": sum(e.diamonds for e in kept),
            },
            pattern_key=key,
        )
        flagged.append(host_id)
    return flagged


async def creator_cleared(creator_id: int, rules: FraudSettings) -> bool:
    """Auto-approval may pay this creator: no open flag, and nobody who gifted them within
    ``refund_lookback_days`` had a purchase refunded or contested in that time."""
    if await fraud.has_open_flag(creator_id):
        return False
    since = utcnow() - timedelta(days=rules.refund_lookback_days)
    senders = await gift_events.received_by_sender(creator_id, since)
    return not await contested.buyers_with_contested_purchases(list(senders), since)

"""Fraud rules: each reads committed gift events and raises a flag when its pattern shows.

Guarantees
- Rules never run inside a money transaction: ``after_gifts``, ``after_payout_request`` and
  ``after_clawback`` hear the committed ``GiftSent``, ``PayoutRequested`` and ``CoinsClawedBack``
  events (wired in ``app.wiring``), and ``scan`` runs on its own.
- A rule that fails is logged and skipped; it never fails the user's request.
- Every rule is idempotent: an open flag for the same subject, rule and pattern is not
  raised twice (``raise_flag``), so ``scan`` is safe to run as often as you like.

Rules and their thresholds (``FraudSettings``):
1. YOUNG_ACCOUNT_SPENDING: an account younger than ``young_account_days`` sent more than
   ``young_account_hourly_coins`` coins of gifts in the last hour (after each gift).
2. CIRCULAR_GIFTING: A gifted B and B gifted A more than ``circular_min_coins`` each within
   ``circular_window_s`` (after each gift; both users are flagged).
3. CONCENTRATION_BEFORE_PAYOUT: more than ``concentration_percent`` of a creator's diamonds
   of the last ``concentration_window_days`` came from one sender, and the creator asked for
   a payout (after each payout request, and in ``scan`` for pending payouts).
4. REFUND_AFTER_SPEND: a refund's clawback found the coins already spent (after each
   clawback, and in ``scan`` for the recent ones).
5. NEW_ACCOUNT_SWARM: ``swarm_min_senders`` or more young accounts gifted one creator within
   ``swarm_window_s`` (after each gift).
6. CREATOR_REPORT: raised by ``reportGift`` (``app.fraud.review.report_gift``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from app.core.clock import utcnow
from app.core.transactions import in_transaction
from app.fraud import service as fraud
from app.fraud import tracing
from app.fraud.codes import FraudRule, Severity
from app.gifts import queries as gift_events
from app.payouts import queries as payout_queries
from app.purchases.checkout import PaymentAmountMismatch
from app.purchases.refunds import Clawback, recent_clawbacks, recent_losses
from app.settings import FraudSettings
from app.users import service as users

log = structlog.get_logger(__name__)

MAX_EVIDENCE_EVENTS = 20


async def _raise(
    subject_user_id: int,
    rule: FraudRule,
    severity: Severity,
    evidence: dict[str, object],
    pattern_key: str = "",
) -> bool:
    raised = await in_transaction(
        lambda: fraud.raise_flag(subject_user_id, rule, severity, evidence, pattern_key=pattern_key)
    )
    if raised:
        log.info("fraud.flag_raised", rule=rule.value, subject=subject_user_id, key=pattern_key)
    return raised


async def _guarded(check: Callable[..., Awaitable[int]], *args: object) -> int:
    """Run one rule (it returns how many flags it raised); its failure is logged, never
    passed on to the request that ran it."""
    try:
        return await check(*args)
    except Exception:
        log.exception("fraud.rule_failed", rule=check.__name__, args=args)
        return 0


def _is_young(created_at: datetime, rules: FraudSettings) -> bool:
    return utcnow() - created_at < timedelta(days=rules.young_account_days)


# 1. A young account spending fast ------------------------------------------------------


async def check_young_account_spending(
    sender_id: int, rules: FraudSettings, created_at: datetime | None = None
) -> bool:
    created_at = created_at or (await users.get_user(sender_id)).created_at
    if not _is_young(created_at, rules):
        return False
    sent = await gift_events.coins_sent_since(
        sender_id, utcnow() - timedelta(hours=1), evidence=MAX_EVIDENCE_EVENTS
    )
    spent = sent.coins
    if spent <= rules.young_account_hourly_coins:
        return False
    return await _raise(
        sender_id,
        FraudRule.YOUNG_ACCOUNT_SPENDING,
        Severity.MEDIUM,
        {
            "coins_last_hour": spent,
            "threshold_coins": rules.young_account_hourly_coins,
            "account_created_at": created_at.isoformat(),
            "gift_event_ids": sent.newest_event_ids,
        },
    )


# 2. Circular gifting -------------------------------------------------------------------


async def _coins_between(sender_id: int, host_id: int, since: datetime) -> tuple[int, list[int]]:
    sent = await gift_events.coins_sent_since(
        sender_id, since, host_id=host_id, evidence=MAX_EVIDENCE_EVENTS
    )
    return sent.coins, sent.newest_event_ids


async def check_circular_gifting(a_id: int, b_id: int, rules: FraudSettings) -> int:
    since = utcnow() - timedelta(seconds=rules.circular_window_s)
    a_to_b, a_events = await _coins_between(a_id, b_id, since)
    if a_to_b <= rules.circular_min_coins:
        return 0
    b_to_a, b_events = await _coins_between(b_id, a_id, since)
    if b_to_a <= rules.circular_min_coins:
        return 0
    evidence: dict[str, object] = {
        "users": [a_id, b_id],
        "coins_a_to_b": a_to_b,
        "coins_b_to_a": b_to_a,
        "threshold_coins": rules.circular_min_coins,
        "window_hours": rules.circular_window_s / 3600,
        "gift_event_ids": sorted(a_events + b_events),
    }
    first = await _raise(a_id, FraudRule.CIRCULAR_GIFTING, Severity.HIGH, evidence, str(b_id))
    second = await _raise(b_id, FraudRule.CIRCULAR_GIFTING, Severity.HIGH, evidence, str(a_id))
    return int(first) + int(second)


# 3. Most of a creator's diamonds from one sender, then a payout ------------------------


async def check_concentration(creator_id: int, payout_id: int, rules: FraudSettings) -> bool:
    since = utcnow() - timedelta(days=rules.concentration_window_days)
    received = await gift_events.received_by_sender(creator_id, since)
    total = sum(diamonds for _, diamonds in received.values())
    if not received or total < rules.concentration_min_diamonds:
        return False
    top_sender, (_, top_diamonds) = max(received.items(), key=lambda item: (item[1][1], -item[0]))
    if top_diamonds * 100 <= total * rules.concentration_percent:
        return False
    return await _raise(
        creator_id,
        FraudRule.CONCENTRATION_BEFORE_PAYOUT,
        Severity.HIGH,
        {
            "sender_id": top_sender,
            "sender_diamonds": top_diamonds,
            "total_diamonds": total,
            "share_percent": round(top_diamonds * 100 / total, 1),
            "threshold_percent": rules.concentration_percent,
            "window_days": rules.concentration_window_days,
            "payout_id": payout_id,
        },
        f"sender:{top_sender}",
    )


# 4. Coins refunded after they were spent -----------------------------------------------


async def check_refund_after_spend(clawback: Clawback) -> bool:
    if clawback.balance_before >= clawback.coins:
        return False
    return await _raise(
        clawback.user_id,
        FraudRule.REFUND_AFTER_SPEND,
        Severity.HIGH,
        {
            "purchase_id": clawback.purchase_id,
            "coins": clawback.coins,
            "balance_before": clawback.balance_before,
            "balance_after": clawback.balance_after,
            "reason": clawback.reason,
        },
        f"purchase:{clawback.purchase_id}",
    )


# 4b. A web checkout paid with another amount than its price ----------------------------


async def check_payment_amount_mismatch(event: PaymentAmountMismatch) -> bool:
    """Always a flag: nothing was credited, and a moderator refunds or settles it."""
    return await _raise(
        event.user_id,
        FraudRule.PAYMENT_AMOUNT_MISMATCH,
        Severity.HIGH,
        {
            "checkout_id": event.checkout_id,
            "payment_intent_id": event.payment_intent_id,
            "event_id": event.event_id,
            "bound_minor": event.bound.amount_minor,
            "bound_currency": event.bound.currency,
            "paid_minor": event.paid.amount_minor if event.paid else None,
            "paid_currency": event.paid.currency if event.paid else None,
        },
        f"checkout:{event.checkout_id}",
    )


# 5. Many new accounts gifting one creator ----------------------------------------------


async def check_new_account_swarm(host_id: int, rules: FraudSettings) -> bool:
    received = await gift_events.received_by_sender(
        host_id, utcnow() - timedelta(seconds=rules.swarm_window_s)
    )
    senders = await users.users_by_ids(list(received))
    young = sorted(s for s, user in senders.items() if _is_young(user.created_at, rules))
    if len(young) < rules.swarm_min_senders:
        return False
    return await _raise(
        host_id,
        FraudRule.NEW_ACCOUNT_SWARM,
        Severity.HIGH,
        {
            "new_senders": len(young),
            "threshold_senders": rules.swarm_min_senders,
            "window_minutes": rules.swarm_window_s // 60,
            "coins_by_sender": {str(sender): received[sender][0] for sender in young},
        },
    )


# When they run -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GiftToCheck:
    """A committed gift, as the rules after it need it."""

    sender_id: int
    host_id: int
    sender_created_at: datetime | None = None


async def after_gifts(gifts: Sequence[GiftToCheck], rules: FraudSettings) -> None:
    """The cheap rules a batch of committed gifts can trip.

    Only a young sender can tip the young-account and swarm rules, so only their gifts
    check them (once per sender and per host in the batch). Circular gifting needs the
    host to have gifted the sender back: one statement screens every pair of the batch,
    and only pairs gifted both ways are summed. Under load a batch holds what arrived
    while the last one ran, so the checks keep pace with the sends.
    """
    young_hosts: dict[int, set[int]] = {}
    created: dict[int, datetime | None] = {}
    for gift in gifts:
        if gift.sender_id not in created:
            created[gift.sender_id] = await _created_at(gift)
        when = created[gift.sender_id]
        if when is not None and _is_young(when, rules):
            young_hosts.setdefault(gift.sender_id, set()).add(gift.host_id)
    for sender_id in sorted(young_hosts):
        await _guarded(check_young_account_spending, sender_id, rules, created[sender_id])
    for host_id in sorted(set().union(*young_hosts.values())):
        await _guarded(check_new_account_swarm, host_id, rules)
    pairs = sorted({(gift.sender_id, gift.host_id) for gift in gifts})
    since = utcnow() - timedelta(seconds=rules.circular_window_s)
    try:
        gifted_back = await gift_events.pairs_gifted_since([(h, s) for s, h in pairs], since)
    except Exception:
        log.exception("fraud.rule_failed", rule="check_circular_gifting", pairs=len(pairs))
        return
    for sender_id, host_id in pairs:
        if (host_id, sender_id) in gifted_back:
            await _guarded(check_circular_gifting, sender_id, host_id, rules)


async def _created_at(gift: GiftToCheck) -> datetime | None:
    if gift.sender_created_at is not None:
        return gift.sender_created_at
    try:
        return (await users.get_user(gift.sender_id)).created_at
    except Exception:
        log.exception("fraud.rule_failed", rule="after_gift", sender_id=gift.sender_id)
        return None


async def after_payout_request(creator_id: int, payout_id: int, rules: FraudSettings) -> None:
    await _guarded(check_concentration, creator_id, payout_id, rules)


async def after_clawback(clawback: Clawback) -> None:
    await _guarded(check_refund_after_spend, clawback)


async def after_amount_mismatch(event: PaymentAmountMismatch) -> None:
    await _guarded(check_payment_amount_mismatch, event)


async def _trace(purchase_id: int, maturation_days: int) -> int:
    trace = await tracing.trace_refunded_coins(purchase_id, maturation_days=maturation_days)
    return len(trace.flagged_creator_ids)


@dataclass(frozen=True, slots=True)
class ScanReport:
    checks: int
    flags_raised: int


async def scan(rules: FraudSettings, *, maturation_days: int | None = None) -> ScanReport:
    """Run every rule over the recent gift events, clawbacks and pending payouts.

    Catches what a post-commit check missed (a crash between commit and check, a rule
    switched on later). Safe to run repeatedly: open flags are never raised twice. With
    ``maturation_days`` (the economy's), purchases whose coins were recently lost for good
    are traced to their gifts again (``app.fraud.tracing``, idempotent).
    """
    now = utcnow()
    outcomes: list[int] = []

    recent = await gift_events.active_since(now - timedelta(hours=1))
    for sender_id in sorted({sender for sender, _ in recent}):
        outcomes.append(await _guarded(check_young_account_spending, sender_id, rules))

    seen = set(await gift_events.active_since(now - timedelta(seconds=rules.circular_window_s)))
    for a_id, b_id in sorted(seen):
        if a_id < b_id and (b_id, a_id) in seen:
            outcomes.append(await _guarded(check_circular_gifting, a_id, b_id, rules))

    swarm = await gift_events.active_since(now - timedelta(seconds=rules.swarm_window_s))
    for host_id in sorted({host for _, host in swarm}):
        outcomes.append(await _guarded(check_new_account_swarm, host_id, rules))

    since = now - timedelta(days=rules.concentration_window_days)
    for clawback in await recent_clawbacks(since):
        outcomes.append(await _guarded(check_refund_after_spend, clawback))
    if maturation_days is not None:
        for purchase_id in await recent_losses(since):
            outcomes.append(await _guarded(_trace, purchase_id, maturation_days))

    for creator_id, payout_id in (await payout_queries.newest_pending_by_creator()).items():
        outcomes.append(await _guarded(check_concentration, creator_id, payout_id, rules))
    return ScanReport(checks=len(outcomes), flags_raised=sum(outcomes))

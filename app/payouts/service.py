"""Creator payouts, the state machine: request (hold), cancel or reject (release), approve, pay.

Two-phase with the ledger (TigerBeetle's pending, then posted or voided, exactly once):
- ``request_payout``: creator DIAMOND -> PAYOUT_HOLD (``PAYOUT_HOLD``); payout PENDING.
- ``approve_payout``: PENDING -> APPROVED; the provider sends the money; APPROVED -> PAID
  with its payment reference: PAYOUT_HOLD -> PAYOUTS_PAID (``PAYOUT_PAID``).
- ``cancel_payout`` (the creator) / ``reject_payout`` (staff): PENDING -> CANCELLED /
  REJECTED: PAYOUT_HOLD -> creator DIAMOND (``PAYOUT_RELEASED``).
- A provider that settles later (Stripe) leaves the payout APPROVED after sending; its
  webhook then calls ``settle_paid`` (APPROVED -> PAID, as above) or ``settle_failed``
  (APPROVED -> REJECTED with the provider's reason, hold released as on a rejection).

Guarantees
- Every status change is a conditional update (``... WHERE id = ? AND status = ?``) in
  the same transaction as its ledger transfer, so a hold resolves exactly once, however
  many staff members, creators or retries race for it; the losers change nothing.
- The daily cap (``app.payouts.daily_cap``) is counted in the request's transaction: two
  concurrent requests cannot both pass it. Cancelled and rejected payouts give their
  diamonds back to the day they were requested on.
- One lock order on every path, so requests, cancels and decisions never deadlock each
  other (``tests/concurrency/test_no_deadlock.py`` races them and sees no deadlock at all):
  1. the payout row (``_decide``'s or ``pay_payout``'s conditional update; a request
     inserts its own, which nobody else can hold yet);
  2. the creator's daily-cap row (``count_against_cap`` on request, ``give_back_to_cap``
     on cancel and reject; approval and payment do not touch it);
  3. the ledger accounts, all at once in ascending id order (``ledger.run_operation``).
  Per path: request 2-3; cancel, reject and settle_failed 1-2-3; approve 1; paid 1-3; a failed send
  locks nothing (the payout stays APPROVED, its hold untouched). Nothing on these paths
  locks the user row: ``require_can_transact`` and the review-hold check are plain reads.
- The cash amount is fixed at request time: diamonds x the published diamond value,
  rounded down to whole minor units (``cash_amount``).
- The provider is called between two transactions, never inside one; it is idempotent
  per payout, and a payout it did not confirm stays APPROVED (diamonds still held) until
  ``pay_payout`` retries it.
- ``PayoutRequested`` is heard after the request commits: the fraud rules, then
  auto-approval (``auto_approve``), wired in ``app.wiring``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog

from app import ledger
from app.audit import service as audit
from app.audit.service import Actor
from app.core.clock import utcnow
from app.core.errors import DomainError, ErrorCode, invalid_input
from app.core.events import emit
from app.core.transactions import in_transaction
from app.gifts import settlement
from app.ledger import AccountCode, Currency, TransferKind
from app.payouts import accounts, daily_cap, holds, maturation
from app.payouts.codes import PayoutStatus
from app.payouts.provider import PayoutProvider, PayoutProviderError
from app.payouts.queries import get_payout
from app.payouts.records import PayoutAlreadyDecided, PayoutRecord, cash_amount
from app.payouts.tables import Payout
from app.settings import EconomySettings, PayoutSettings
from app.users import service as users
from app.users.service import UserRecord

log = structlog.get_logger(__name__)

# Auto-approval decides as the system, and is audited like a staff member.
AUTO_APPROVER = Actor(staff_id=None, handle="auto-approval", role="SYSTEM")
MAX_REASON_LENGTH = 2_000


@dataclass(frozen=True, slots=True)
class PayoutRequested:
    """Emitted once per committed request (never for a replay)."""

    creator_id: int
    payout_id: int


@dataclass(frozen=True, slots=True)
class PayoutStatusChanged:
    """Emitted once per committed decision or payment (PENDING is ``PayoutRequested``)."""

    payout_id: int
    status: PayoutStatus


# Requesting ---------------------------------------------------------------------------


async def request_payout(
    creator_id: int,
    diamonds: int,
    idempotency_key: str,
    *,
    economy: EconomySettings,
    payout_settings: PayoutSettings | None = None,
) -> PayoutRecord:
    """Hold ``diamonds`` for a new PENDING payout.

    Checks, in order: the idempotency key (a replay returns the first payout), a positive
    amount, the minimum (BELOW_PAYOUT_MINIMUM), adult and not frozen, a verified payout
    account when ``payout_settings`` are given (PAYOUT_ACCOUNT_NOT_VERIFIED; the API always
    gives them), the daily cap (PAYOUT_LIMIT_REACHED), enough matured diamonds
    (EARNINGS_NOT_MATURED: held, but from gifts younger than the maturation window), enough
    diamonds at all (INSUFFICIENT_FUNDS).
    """

    async def build(operation: ledger.OpenOperation) -> ledger.Plan[int]:
        if diamonds <= 0:
            raise invalid_input("Ask for a positive number of diamonds.", "diamonds")
        if diamonds < economy.minimum_payout_diamonds:
            raise DomainError(
                ErrorCode.BELOW_PAYOUT_MINIMUM,
                f"The minimum payout is {economy.minimum_payout_diamonds} diamonds.",
                "diamonds",
            )
        users.require_can_transact(await users.get_user(creator_id))
        if payout_settings is not None:
            await accounts.require_verified(creator_id, payout_settings)
        now = utcnow()
        await daily_cap.count_against_cap(
            creator_id, now.date(), diamonds, economy.maximum_daily_payout_diamonds
        )
        # After the cap row: a concurrent request of this creator waits there, so it reads
        # the balance this one leaves.
        await _require_matured(creator_id, diamonds, economy)
        amount = cash_amount(diamonds, economy.diamond_value)
        rows = await Payout.insert(
            Payout(
                creator_id=creator_id,
                diamonds=diamonds,
                amount_minor=amount.amount_minor,
                currency=amount.currency,
                status=PayoutStatus.PENDING.value,
                operation_id=operation.id,
                requested_day=now.date(),
                reason="",
                requested_at=now,
            )
        ).returning(Payout.id)
        payout_id = rows[0]["id"]
        emit(PayoutRequested(creator_id, payout_id))
        leg = ledger.Leg(
            TransferKind.PAYOUT_HOLD,
            await ledger.user_account_id(creator_id, Currency.DIAMOND),
            await ledger.system_account_id(AccountCode.PAYOUT_HOLD),
            diamonds,
            f"Held for payout #{payout_id}",
        )
        return ledger.Plan([leg], str(payout_id), payout_id)

    outcome = await ledger.run_operation(
        "PAYOUT_REQUEST",
        user_id=creator_id,
        idempotency_key=idempotency_key,
        request={"diamonds": diamonds},
        build=build,
    )
    return await get_payout(int(outcome.result_ref or 0))


async def _require_matured(creator_id: int, diamonds: int, economy: EconomySettings) -> None:
    """Refuse a request that reaches into maturing diamonds (EARNINGS_NOT_MATURED).

    More than the creator holds at all is left to the ledger (INSUFFICIENT_FUNDS)."""
    if economy.earnings_maturation_days <= 0:
        return
    settled = (await ledger.user_balances([creator_id]))[creator_id][Currency.DIAMOND]
    balance = settled + (await settlement.queued_diamonds([creator_id]))[creator_id]
    if diamonds > balance:
        return
    window = (await maturation.maturing([creator_id], economy.earnings_maturation_days))[creator_id]
    available = balance - window.of(balance)
    if diamonds > available:
        when = f" (the next on {window.next_maturity_at:%Y-%m-%d %H:%M} UTC)"
        raise DomainError(
            ErrorCode.EARNINGS_NOT_MATURED,
            f"Only {available} of your diamonds can be paid out yet: diamonds from gifts "
            f"become available {economy.earnings_maturation_days} days after the gift"
            + (when if window.next_maturity_at else "")
            + ".",
            "diamonds",
        )


# Deciding -----------------------------------------------------------------------------

_DECIDE = (
    "UPDATE payout SET status = {}, decided_by = {}, decided_at = {}, reason = {} "
    "WHERE id = {} AND status = {} AND creator_id = COALESCE({}, creator_id) "
    "RETURNING id, creator_id, diamonds, requested_day"
)


async def _decide(
    payout_id: int,
    to: PayoutStatus,
    *,
    decided_by: str | None,
    reason: str = "",
    creator_id: int | None = None,
) -> dict[str, Any] | None:
    """PENDING -> ``to`` if the payout is still PENDING (and ``creator_id``'s, when given);
    None when someone decided first."""
    rows = await Payout.raw(
        _DECIDE,
        to.value,
        decided_by,
        utcnow(),
        reason,
        payout_id,
        PayoutStatus.PENDING.value,
        creator_id,
    )
    if rows:
        emit(PayoutStatusChanged(payout_id, to))
    return rows[0] if rows else None


async def _release_hold(row: dict[str, Any], operation_kind: str, description: str) -> None:
    """The hold of a payout that will not be paid goes back to the creator."""
    creator_id = row["creator_id"]
    await daily_cap.give_back_to_cap(creator_id, row["requested_day"], row["diamonds"])

    async def build(_: ledger.OpenOperation) -> ledger.Plan[None]:
        leg = ledger.Leg(
            TransferKind.PAYOUT_RELEASED,
            await ledger.system_account_id(AccountCode.PAYOUT_HOLD),
            await ledger.user_account_id(creator_id, Currency.DIAMOND),
            row["diamonds"],
            description,
        )
        return ledger.Plan([leg], str(row["id"]), None)

    await ledger.run_operation(operation_kind, user_id=creator_id, build=build)


async def cancel_payout(creator_id: int, payout_id: int) -> PayoutRecord:
    """The creator takes a PENDING payout back; cancelling a cancelled one changes nothing."""

    async def work() -> None:
        row = await _decide(
            payout_id, PayoutStatus.CANCELLED, decided_by=None, creator_id=creator_id
        )
        if row is None:
            current = await Payout.select().where(Payout.id == payout_id).first()
            if current is None or current["creator_id"] != creator_id:
                raise DomainError(ErrorCode.NOT_FOUND, "No such payout.", "payoutId")
            status = PayoutStatus(current["status"])
            if status is PayoutStatus.CANCELLED:
                return
            raise DomainError(
                ErrorCode.PAYOUT_NOT_CANCELLABLE,
                f"This payout is {status.value.lower()} and can no longer be cancelled.",
                "payoutId",
            )
        await _release_hold(row, "PAYOUT_CANCEL", f"Payout #{payout_id} cancelled")

    await in_transaction(work)
    return await get_payout(payout_id)


async def _already_decided(payout_id: int) -> DomainError:
    return PayoutAlreadyDecided((await get_payout(payout_id)).status)


async def reject_payout(payout_id: int, actor: Actor, reason: str) -> PayoutRecord:
    """Staff refuse a PENDING payout with a reason the creator can be shown; the hold is freed.

    The audit entry is written in the same transaction as the decision."""
    reason = reason.strip()
    if not reason or len(reason) > MAX_REASON_LENGTH:
        raise invalid_input(f"Give a reason of 1 to {MAX_REASON_LENGTH} characters.", "reason")

    async def work() -> None:
        row = await _decide(
            payout_id, PayoutStatus.REJECTED, decided_by=actor.handle, reason=reason
        )
        if row is None:
            raise await _already_decided(payout_id)
        await audit.record(
            actor,
            "payout.reject",
            target_type="payout",
            target_id=payout_id,
            before={"status": PayoutStatus.PENDING.value},
            after={"status": PayoutStatus.REJECTED.value},
            reason=reason,
        )
        await _release_hold(row, "PAYOUT_REJECT", f"Payout #{payout_id} rejected")

    await in_transaction(work)
    return await get_payout(payout_id)


Eligibility = Callable[[UserRecord, PayoutRecord], Awaitable[bool]]


async def approve_payout(payout_id: int, actor: Actor, *, provider: PayoutProvider) -> PayoutRecord:
    """PENDING -> APPROVED -> PAID. Staff may approve creators with open fraud flags (that is
    the review), but not a frozen account (ACCOUNT_FROZEN). Raises ``PayoutProviderError``
    when the provider fails: the payout then stays APPROVED, its diamonds held, for
    ``pay_payout`` to retry."""
    approved = await _approve(payout_id, actor, eligible=None)
    assert approved is not None
    return await pay_payout(approved.id, provider=provider)


async def _approve(
    payout_id: int, actor: Actor, *, eligible: Eligibility | None
) -> PayoutRecord | None:
    """Approve in one transaction with its audit entry; None when ``eligible`` says no."""

    async def work() -> PayoutRecord | None:
        payout = await get_payout(payout_id)
        creator = await users.get_user(payout.creator_id)
        if eligible is not None and not await eligible(creator, payout):
            return None
        if creator.frozen:
            raise DomainError(
                ErrorCode.ACCOUNT_FROZEN, "The creator's account is frozen pending review."
            )
        if await holds.payouts_held(creator.id):
            raise DomainError(
                ErrorCode.FORBIDDEN,
                "A moderator holds this creator's payouts for fraud review; "
                "they must release them first.",
                "payoutId",
            )
        row = await _decide(payout_id, PayoutStatus.APPROVED, decided_by=actor.handle)
        if row is None:
            raise await _already_decided(payout_id)
        await audit.record(
            actor,
            "payout.approve",
            target_type="payout",
            target_id=payout_id,
            before={"status": PayoutStatus.PENDING.value},
            after={"status": PayoutStatus.APPROVED.value},
        )
        return await get_payout(payout_id)

    return await in_transaction(work)


async def pay_payout(payout_id: int, *, provider: PayoutProvider) -> PayoutRecord:
    """Send an APPROVED payout through ``provider`` and post it: hold -> paid, exactly once.

    A provider that settles later (Stripe) leaves the payout APPROVED, its diamonds held,
    until ``settle_paid`` or ``settle_failed`` hears how it ended."""
    payout = await get_payout(payout_id)
    if payout.status is PayoutStatus.PAID:
        return payout
    if payout.status is not PayoutStatus.APPROVED:
        raise PayoutAlreadyDecided(payout.status)
    try:
        reference = await provider.send(payout)
    except Exception as error:
        log.warning("payout.provider_failed", payout_id=payout_id, error=repr(error))
        if isinstance(error, PayoutProviderError):
            raise
        raise PayoutProviderError(f"the provider failed to send payout {payout_id}") from error
    if provider.settles_on_send:
        await in_transaction(lambda: settle_paid(payout_id, reference))
    return await get_payout(payout_id)


async def settle_paid(payout_id: int, reference: str) -> bool:
    """APPROVED -> PAID with the provider's reference: hold -> paid. Call inside the
    caller's transaction; False (and nothing changes) when the payout is not APPROVED
    (a replay, or it was settled otherwise first)."""
    marked = (
        await Payout.update(
            {
                Payout.status: PayoutStatus.PAID.value,
                Payout.payment_reference: reference,
                Payout.paid_at: utcnow(),
            }
        )
        .where((Payout.id == payout_id) & (Payout.status == PayoutStatus.APPROVED.value))
        .returning(Payout.id, Payout.creator_id, Payout.diamonds)
    )
    if not marked:
        return False
    row = marked[0]

    async def build(_: ledger.OpenOperation) -> ledger.Plan[None]:
        leg = ledger.Leg(
            TransferKind.PAYOUT_PAID,
            await ledger.system_account_id(AccountCode.PAYOUT_HOLD),
            await ledger.system_account_id(AccountCode.PAYOUTS_PAID),
            row["diamonds"],
            f"Payout #{payout_id} paid ({reference})",
        )
        return ledger.Plan([leg], str(payout_id), None)

    await ledger.run_operation("PAYOUT_PAY", user_id=row["creator_id"], build=build)
    emit(PayoutStatusChanged(payout_id, PayoutStatus.PAID))
    return True


async def settle_failed(payout_id: int, reason: str) -> bool:
    """The provider could not pay an APPROVED payout: it ends REJECTED with the provider's
    reason and its hold goes back to the creator, exactly once. Call inside the caller's
    transaction; False when the payout is not APPROVED (a replay, or already paid)."""
    rows = await Payout.raw(
        "UPDATE payout SET status = {}, decided_at = {}, reason = {} "
        "WHERE id = {} AND status = {} RETURNING id, creator_id, diamonds, requested_day",
        PayoutStatus.REJECTED.value,
        utcnow(),
        reason[:MAX_REASON_LENGTH],
        payout_id,
        PayoutStatus.APPROVED.value,
    )
    if not rows:
        return False
    await _release_hold(rows[0], "PAYOUT_FAIL", f"Payout #{payout_id} failed at the provider")
    emit(PayoutStatusChanged(payout_id, PayoutStatus.REJECTED))
    return True


CreatorCleared = Callable[[int], Awaitable[bool]]


async def auto_approve(
    payout_id: int,
    policy: PayoutSettings,
    provider: PayoutProvider,
    *,
    cleared: CreatorCleared | None = None,
) -> PayoutRecord:
    """Approve and pay a small payout of a creator in good standing; otherwise leave it.

    ``cleared`` says whether nothing about the creator waits for review (the fraud rules'
    open flags, given by the wiring, since payouts sit below fraud)."""
    payout = await get_payout(payout_id)
    if not policy.auto_approve or payout.diamonds > policy.auto_approve_max_diamonds:
        return payout

    async def eligible(creator: UserRecord, current: PayoutRecord) -> bool:
        old_enough = utcnow() - creator.created_at >= timedelta(
            days=policy.auto_approve_min_account_age_days
        )
        return (
            current.status is PayoutStatus.PENDING
            and current.diamonds <= policy.auto_approve_max_diamonds
            and creator.is_adult
            and not creator.frozen
            and old_enough
            and (cleared is None or await cleared(creator.id))
            and not await holds.payouts_held(creator.id)
        )

    # The request itself has committed: whatever happens here, the creator gets their
    # payout back, decided or not (a concurrent cancel wins; a failed send waits, APPROVED).
    try:
        approved = await _approve(payout.id, AUTO_APPROVER, eligible=eligible)
        if approved is not None:
            await pay_payout(approved.id, provider=provider)
    except (DomainError, PayoutProviderError) as error:
        log.info("payout.auto_approval_skipped", payout_id=payout.id, reason=repr(error))
    return await get_payout(payout.id)

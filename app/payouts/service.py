"""Creator payouts: request (hold), cancel or reject (release), approve and pay.

Two-phase with the ledger (TigerBeetle's pending, then posted or voided, exactly once):
- ``request_payout``: creator DIAMOND -> PAYOUT_HOLD (``PAYOUT_HOLD``); payout PENDING.
- ``approve_payout``: PENDING -> APPROVED; the provider sends the money; APPROVED -> PAID
  with its payment reference: PAYOUT_HOLD -> PAYOUTS_PAID (``PAYOUT_PAID``).
- ``cancel_payout`` (the creator) / ``reject_payout`` (staff): PENDING -> CANCELLED /
  REJECTED: PAYOUT_HOLD -> creator DIAMOND (``PAYOUT_RELEASED``).

Guarantees
- Every status change is a conditional update (``... WHERE id = ? AND status = ?``) in
  the same transaction as its ledger transfer, so a hold resolves exactly once, however
  many staff members, creators or retries race for it; the losers change nothing.
- The daily cap is a per-creator, per-UTC-day total raised by a conditional update
  (``... WHERE diamonds + n <= cap``) in the request's transaction: two concurrent
  requests cannot both pass it. Cancelled and rejected payouts give their diamonds back
  to the day they were requested on.
- The cash amount is fixed at request time: diamonds x the published diamond value,
  rounded down to whole minor units (``cash_amount``).
- The provider is called between two transactions, never inside one; it is idempotent
  per payout, and a payout it did not confirm stays APPROVED (diamonds still held) until
  ``pay_payout`` retries it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import structlog
from piccolo.query.functions.aggregate import Sum

from app.audit import service as audit
from app.audit.service import Actor
from app.core.clock import as_utc, utcnow
from app.core.errors import DomainError, ErrorCode, invalid_input
from app.core.money import Money, Rate
from app.core.transactions import in_transaction
from app.fraud import rules as fraud_rules
from app.fraud import service as fraud
from app.ledger import service as ledger
from app.ledger.codes import AccountCode, Currency, TransferKind
from app.payouts.codes import HELD_STATUSES, PayoutStatus
from app.payouts.provider import PayoutProvider, PayoutProviderError
from app.payouts.tables import Payout, PayoutDailyTotal
from app.settings import EconomySettings, FraudSettings, PayoutSettings
from app.users import service as users
from app.users.service import UserRecord

log = structlog.get_logger(__name__)

# Auto-approval decides as the system, and is audited like a staff member.
AUTO_APPROVER = Actor(staff_id=None, handle="auto-approval", role="SYSTEM")
MAX_REASON_LENGTH = 2_000


class PayoutAlreadyDecided(DomainError):
    """Staff tried to decide a payout someone (or something) else already decided."""

    def __init__(self, status: PayoutStatus) -> None:
        super().__init__(
            ErrorCode.INVALID_INPUT,
            f"This payout is already {status.value.lower()}.",
            "payoutId",
        )
        self.status = status


@dataclass(frozen=True, slots=True)
class PayoutRecord:
    id: int
    creator_id: int
    diamonds: int
    amount: Money
    status: PayoutStatus
    payment_reference: str | None
    reason: str
    decided_by: str | None
    requested_at: datetime
    decided_at: datetime | None
    paid_at: datetime | None


@dataclass(frozen=True, slots=True)
class Earnings:
    """A creator's diamonds: ``available`` in the wallet, ``pending`` held by payouts."""

    available_diamonds: int
    pending_diamonds: int
    cash_value: Money
    minimum_payout_diamonds: int

    @property
    def diamonds(self) -> int:
        return self.available_diamonds + self.pending_diamonds


def cash_amount(diamonds: int, diamond_value: Rate) -> Money:
    """What ``diamonds`` pay out: diamonds x rate, rounded DOWN to a whole minor unit.

    The rounding is in the platform's favour by less than one minor unit: at 0.5 cents a
    diamond, 2,001 diamonds pay 10.00 USD (1,000.5 cents floored), never 10.01.
    """
    return diamond_value.floor(diamonds)


def earnings_of(balance: int, held: int, economy: EconomySettings) -> Earnings:
    """``cash_value`` is what the available diamonds would pay out today (never negative)."""
    return Earnings(
        available_diamonds=balance,
        pending_diamonds=held,
        cash_value=cash_amount(max(balance, 0), economy.diamond_value),
        minimum_payout_diamonds=economy.minimum_payout_diamonds,
    )


def _record(row: dict) -> PayoutRecord:
    return PayoutRecord(
        id=row["id"],
        creator_id=row["creator_id"],
        diamonds=row["diamonds"],
        amount=Money(row["amount_minor"], row["currency"]),
        status=PayoutStatus(row["status"]),
        payment_reference=row["payment_reference"],
        reason=row["reason"],
        decided_by=row["decided_by"],
        requested_at=as_utc(row["requested_at"]),
        decided_at=as_utc(row["decided_at"]) if row["decided_at"] else None,
        paid_at=as_utc(row["paid_at"]) if row["paid_at"] else None,
    )


# Reading ------------------------------------------------------------------------------


async def get_payout(payout_id: int) -> PayoutRecord:
    row = await Payout.select().where(Payout.id == payout_id).first()
    if row is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such payout.", "payoutId")
    return _record(row)


async def list_payouts(
    *,
    status: PayoutStatus | None = None,
    creator_id: int | None = None,
    limit: int = 50,
    after: int | None = None,
    oldest_first: bool = False,
) -> list[PayoutRecord]:
    """Payouts newest first (or oldest first, for a review queue), after payout id ``after``."""
    query = Payout.select()
    if status is not None:
        query = query.where(Payout.status == status.value)
    if creator_id is not None:
        query = query.where(Payout.creator_id == creator_id)
    if after is not None:
        query = query.where(Payout.id > after if oldest_first else Payout.id < after)
    rows = await query.order_by(Payout.id, ascending=oldest_first).limit(limit)
    return [_record(row) for row in rows]


async def held_diamonds(creator_ids: Sequence[int]) -> dict[int, int]:
    """Diamonds each creator has on the payout-hold account (PENDING and APPROVED payouts)."""
    if not creator_ids:
        return {}
    rows = (
        await Payout.select(Payout.creator_id, Sum(Payout.diamonds).as_alias("held"))
        .where(Payout.creator_id.is_in(list(set(creator_ids))))
        .where(Payout.status.is_in(sorted(s.value for s in HELD_STATUSES)))
        .group_by(Payout.creator_id)
    )
    found = dict.fromkeys(creator_ids, 0)
    for row in rows:
        found[row["creator_id"]] = int(row["held"])
    return found


async def requested_today(creator_id: int) -> int:
    """Diamonds counted against today's cap (requested today, not cancelled or rejected)."""
    row = (
        await PayoutDailyTotal.select(PayoutDailyTotal.diamonds)
        .where(
            (PayoutDailyTotal.creator_id == creator_id) & (PayoutDailyTotal.day == utcnow().date())
        )
        .first()
    )
    return row["diamonds"] if row else 0


# Requesting ---------------------------------------------------------------------------


async def request_payout(
    creator_id: int,
    diamonds: int,
    idempotency_key: str,
    *,
    economy: EconomySettings,
    policy: PayoutSettings | None = None,
    provider: PayoutProvider | None = None,
    fraud_rules_settings: FraudSettings | None = None,
) -> PayoutRecord:
    """Hold ``diamonds`` for a new PENDING payout, then auto-approve it when policy allows.

    After the request commits and before any auto-approval, the concentration rule runs
    (when ``fraud_rules_settings`` is given): a flag it raises keeps the payout for review.

    Checks, in order: the idempotency key (a replay returns the first payout), a positive
    amount, the minimum (BELOW_PAYOUT_MINIMUM), adult and not frozen, the daily cap
    (PAYOUT_LIMIT_REACHED), enough available diamonds (INSUFFICIENT_FUNDS).
    """

    async def work() -> tuple[int, bool]:
        started = await ledger.open_operation(
            "PAYOUT_REQUEST",
            user_id=creator_id,
            idempotency_key=idempotency_key,
            request={"diamonds": diamonds},
        )
        if isinstance(started, ledger.Replay):
            return int(started.result_ref or 0), True
        if diamonds <= 0:
            raise invalid_input("Ask for a positive number of diamonds.", "diamonds")
        if diamonds < economy.minimum_payout_diamonds:
            raise DomainError(
                ErrorCode.BELOW_PAYOUT_MINIMUM,
                f"The minimum payout is {economy.minimum_payout_diamonds} diamonds.",
                "diamonds",
            )
        users.require_can_transact(await users.get_user(creator_id))
        now = utcnow()
        await _count_against_daily_cap(
            creator_id, now.date(), diamonds, economy.maximum_daily_payout_diamonds
        )
        amount = cash_amount(diamonds, economy.diamond_value)
        rows = await Payout.raw(
            "INSERT INTO payout (creator_id, diamonds, amount_minor, currency, status, "
            "operation_id, requested_day, reason, requested_at) "
            "VALUES ({}, {}, {}, {}, {}, {}, {}, '', {}) RETURNING id",
            creator_id,
            diamonds,
            amount.amount_minor,
            amount.currency,
            PayoutStatus.PENDING.value,
            started.id,
            now.date(),
            now,
        )
        payout_id = rows[0]["id"]
        await ledger.post_transfers(
            started,
            [
                ledger.Leg(
                    TransferKind.PAYOUT_HOLD,
                    await ledger.user_account_id(creator_id, Currency.DIAMOND),
                    await ledger.system_account_id(AccountCode.PAYOUT_HOLD),
                    diamonds,
                    f"Held for payout #{payout_id}",
                )
            ],
        )
        await ledger.set_result(started, str(payout_id))
        return payout_id, False

    payout_id, replayed = await in_transaction(work)
    if not replayed and fraud_rules_settings is not None:
        await fraud_rules.after_payout_request(creator_id, payout_id, fraud_rules_settings)
    payout = await get_payout(payout_id)
    if not replayed and policy is not None and policy.auto_approve and provider is not None:
        payout = await _auto_approve(payout, policy, provider)
    return payout


async def _count_against_daily_cap(creator_id: int, day: date, diamonds: int, cap: int) -> None:
    """Raise the creator's total for ``day`` by ``diamonds`` unless that passes ``cap``.

    The conditional update locks the creator's row for the rest of the transaction, so
    concurrent requests of one creator queue here and each sees the others' diamonds.
    """
    await PayoutDailyTotal.raw(
        "INSERT INTO payout_daily_total (creator_id, day, diamonds) VALUES ({}, {}, 0) "
        "ON CONFLICT DO NOTHING",
        creator_id,
        day,
    )
    raised = await PayoutDailyTotal.raw(
        "UPDATE payout_daily_total SET diamonds = diamonds + {} "
        "WHERE creator_id = {} AND day = {} AND diamonds + {} <= {} RETURNING diamonds",
        diamonds,
        creator_id,
        day,
        diamonds,
        cap,
    )
    if not raised:
        used = await PayoutDailyTotal.raw(
            "SELECT diamonds FROM payout_daily_total WHERE creator_id = {} AND day = {}",
            creator_id,
            day,
        )
        left = max(cap - (used[0]["diamonds"] if used else 0), 0)
        raise DomainError(
            ErrorCode.PAYOUT_LIMIT_REACHED,
            f"At most {cap} diamonds can be paid out per day; {left} are left today.",
            "diamonds",
        )


async def _give_back_to_daily_cap(creator_id: int, day: date, diamonds: int) -> None:
    await PayoutDailyTotal.raw(
        "UPDATE payout_daily_total SET diamonds = diamonds - {} WHERE creator_id = {} AND day = {}",
        diamonds,
        creator_id,
        day,
    )


# Deciding -----------------------------------------------------------------------------

_DECIDE = (
    "UPDATE payout SET status = {}, decided_by = {}, decided_at = {}, reason = {} "
    "WHERE id = {} AND status = {} AND creator_id = COALESCE({}, creator_id) "
    "RETURNING id, creator_id, diamonds, requested_day"
)
_MARK_PAID = (
    "UPDATE payout SET status = {}, payment_reference = {}, paid_at = {} "
    "WHERE id = {} AND status = {} RETURNING id"
)


async def _decide(
    payout_id: int,
    to: PayoutStatus,
    *,
    decided_by: str | None,
    reason: str = "",
    creator_id: int | None = None,
) -> dict | None:
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
    return rows[0] if rows else None


async def _release_hold(row: dict, operation_kind: str, description: str) -> None:
    """The hold of a payout that will not be paid goes back to the creator."""
    operation = await ledger.open_operation(operation_kind, user_id=row["creator_id"])
    assert isinstance(operation, ledger.OpenOperation)
    await ledger.post_transfers(
        operation,
        [
            ledger.Leg(
                TransferKind.PAYOUT_RELEASED,
                await ledger.system_account_id(AccountCode.PAYOUT_HOLD),
                await ledger.user_account_id(row["creator_id"], Currency.DIAMOND),
                row["diamonds"],
                description,
            )
        ],
    )
    await ledger.set_result(operation, str(row["id"]))
    await _give_back_to_daily_cap(row["creator_id"], row["requested_day"], row["diamonds"])


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
        await _release_hold(row, "PAYOUT_REJECT", f"Payout #{payout_id} rejected")
        await audit.record(
            actor,
            "payout.reject",
            target_type="payout",
            target_id=payout_id,
            before={"status": PayoutStatus.PENDING.value},
            after={"status": PayoutStatus.REJECTED.value},
            reason=reason,
        )

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
        if await fraud.payouts_held(creator.id):
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
    """Send an APPROVED payout through ``provider`` and post it: hold -> paid, exactly once."""
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

    async def work() -> None:
        rows = await Payout.raw(
            _MARK_PAID,
            PayoutStatus.PAID.value,
            reference,
            utcnow(),
            payout_id,
            PayoutStatus.APPROVED.value,
        )
        if not rows:
            return  # a concurrent retry posted it first
        operation = await ledger.open_operation("PAYOUT_PAY", user_id=payout.creator_id)
        assert isinstance(operation, ledger.OpenOperation)
        await ledger.post_transfers(
            operation,
            [
                ledger.Leg(
                    TransferKind.PAYOUT_PAID,
                    await ledger.system_account_id(AccountCode.PAYOUT_HOLD),
                    await ledger.system_account_id(AccountCode.PAYOUTS_PAID),
                    payout.diamonds,
                    f"Payout #{payout_id} paid ({reference})",
                )
            ],
        )
        await ledger.set_result(operation, str(payout_id))

    await in_transaction(work)
    return await get_payout(payout_id)


async def _auto_approve(
    payout: PayoutRecord, policy: PayoutSettings, provider: PayoutProvider
) -> PayoutRecord:
    """Approve and pay a small payout of a creator in good standing; otherwise leave it."""

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
            and not await fraud.has_open_flag(creator.id)
            and not await fraud.payouts_held(creator.id)
        )

    if payout.diamonds > policy.auto_approve_max_diamonds:
        return payout
    # The request itself has committed: whatever happens here, the creator gets their
    # payout back, decided or not (a concurrent cancel wins; a failed send waits, APPROVED).
    try:
        approved = await _approve(payout.id, AUTO_APPROVER, eligible=eligible)
        if approved is not None:
            await pay_payout(approved.id, provider=provider)
    except (DomainError, PayoutProviderError) as error:
        log.info("payout.auto_approval_skipped", payout_id=payout.id, reason=repr(error))
    return await get_payout(payout.id)


async def totals_by_status() -> dict[PayoutStatus, tuple[int, int]]:
    """(payouts, diamonds) per status, for the dashboard."""
    rows = await Payout.raw(
        "SELECT status, COUNT(*) AS payouts, SUM(diamonds) AS diamonds FROM payout GROUP BY status"
    )
    found = dict.fromkeys(PayoutStatus, (0, 0))
    for row in rows:
        found[PayoutStatus(row["status"])] = (int(row["payouts"]), int(row["diamonds"]))
    return found

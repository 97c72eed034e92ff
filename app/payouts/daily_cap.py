"""The daily payout cap: diamonds a creator may request per UTC day.

One row per creator and day, raised by a conditional update (``... WHERE diamonds + n <=
cap``) in the request's transaction, so two concurrent requests cannot both pass it; a
cancelled or rejected payout gives its diamonds back to the day it was requested on.
Every payout path touches this row before the ledger's accounts: one lock order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from app.core.clock import utcnow
from app.core.errors import DomainError, ErrorCode
from app.payouts.tables import PayoutDailyTotal
from app.settings import EconomySettings


async def requested_today(creator_id: int) -> int:
    """Diamonds counted against today's cap (requested today, not cancelled or rejected)."""
    return await _requested_on(creator_id, utcnow().date())


async def _requested_on(creator_id: int, day: date) -> int:
    row = (
        await PayoutDailyTotal.select(PayoutDailyTotal.diamonds)
        .where((PayoutDailyTotal.creator_id == creator_id) & (PayoutDailyTotal.day == day))
        .first()
    )
    return row["diamonds"] if row else 0


async def count_against_cap(creator_id: int, day: date, diamonds: int, cap: int) -> None:
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
        left = max(cap - await _requested_on(creator_id, day), 0)
        raise DomainError(
            ErrorCode.PAYOUT_LIMIT_REACHED,
            f"At most {cap} diamonds can be paid out per day; {left} are left today.",
            "diamonds",
        )


async def give_back_to_cap(creator_id: int, day: date, diamonds: int) -> None:
    await PayoutDailyTotal.update(
        {PayoutDailyTotal.diamonds: PayoutDailyTotal.diamonds - diamonds}
    ).where((PayoutDailyTotal.creator_id == creator_id) & (PayoutDailyTotal.day == day))


@dataclass(frozen=True, slots=True)
class NextPayout:
    """When the creator can next request a payout and of how many diamonds at most;
    ``at`` None (and 0 diamonds) while fewer than the minimum are available."""

    at: datetime | None
    diamonds: int


async def next_payout(
    creator_id: int, available_diamonds: int, economy: EconomySettings
) -> NextPayout:
    """Now, if today's cap leaves at least the minimum; else at the next UTC midnight."""
    minimum, cap = economy.minimum_payout_diamonds, economy.maximum_daily_payout_diamonds
    if available_diamonds < minimum:
        return NextPayout(None, 0)
    now = utcnow()
    left = cap - await _requested_on(creator_id, now.date())
    if left >= minimum:
        return NextPayout(now, min(available_diamonds, left))
    midnight = datetime.combine(now.date() + timedelta(days=1), time(0), tzinfo=UTC)
    return NextPayout(midnight, min(available_diamonds, cap))

"""Responsible spending: per-day counters, the user's own limits and the platform's.

Guarantees
- Every coin spent on a gift or an offer is added to the spender's counter for that UTC day
  in the same transaction as the ledger transfers (``record_spend``).
- ``record_spend`` first increments today's counter (a row lock that serializes one user's
  spends), then checks the day, ISO week and month totals against the limits; a spend that
  would cross any limit raises SPENDING_LIMIT_REACHED and the transaction writes nothing.
- A lowered limit applies at once; a raised or removed one waits ``raise_delay_s``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from app.core.clock import as_utc, utcnow
from app.core.errors import DomainError, ErrorCode
from app.core.transactions import in_transaction
from app.settings import SpendingSettings
from app.spending.tables import PurchaseLimit, SpendingDay, SpendingLimit
from app.users.service import UserRecord

PERIODS = ("daily", "weekly", "monthly")


@dataclass(frozen=True, slots=True)
class Limits:
    """Coins per period; None is no limit of the user's own."""

    daily: int | None = None
    weekly: int | None = None
    monthly: int | None = None

    def get(self, period: str) -> int | None:
        return getattr(self, period)


@dataclass(frozen=True, slots=True)
class LimitsState:
    """The limits in force now, and a raise waiting to apply (if any)."""

    current: Limits
    pending: Limits | None = None
    pending_applies_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class SpendingTotals:
    today: int
    this_week: int
    this_month: int


def period_starts(day: date) -> tuple[date, date]:
    """Monday of ``day``'s ISO week and the first of its month (UTC days)."""
    return day - timedelta(days=day.weekday()), day.replace(day=1)


def _state_of(row: dict | None, now: datetime) -> LimitsState:
    if row is None:
        return LimitsState(Limits())
    current = Limits(row["daily"], row["weekly"], row["monthly"])
    applies_at = row["pending_applies_at"]
    if applies_at is None:
        return LimitsState(current)
    pending = Limits(row["pending_daily"], row["pending_weekly"], row["pending_monthly"])
    applies_at = as_utc(applies_at)
    if applies_at <= now:
        return LimitsState(pending)
    return LimitsState(current, pending, applies_at)


# A table shaped like ``SpendingLimit`` (``PurchaseLimit`` shares the pending-change rules).
LimitTable = type[SpendingLimit] | type[PurchaseLimit]


async def limits_of(user_id: int, table: LimitTable = SpendingLimit) -> LimitsState:
    row = await table.select().where(table.user_id == user_id).first()
    return _state_of(row, utcnow())


async def totals_of(user_ids: list[int]) -> dict[int, SpendingTotals]:
    """Coins spent today, this ISO week and this month (UTC), for many users at once."""
    today = utcnow().date()
    week_start, month_start = period_starts(today)
    rows = (
        await SpendingDay.select(SpendingDay.user_id, SpendingDay.day, SpendingDay.coins).where(
            SpendingDay.user_id.is_in(list(set(user_ids)))
            & (SpendingDay.day >= min(week_start, month_start))
        )
        if user_ids
        else []
    )
    sums: dict[int, list[int]] = {uid: [0, 0, 0] for uid in user_ids}
    for row in rows:
        day = row["day"]
        totals = sums[row["user_id"]]
        totals[0] += row["coins"] if day == today else 0
        totals[1] += row["coins"] if week_start <= day <= today else 0
        totals[2] += row["coins"] if month_start <= day <= today else 0
    return {uid: SpendingTotals(*values) for uid, values in sums.items()}


def _validate(limits: Limits, unit: str) -> Limits:
    for period in PERIODS:
        value = limits.get(period)
        if value is not None and value < 0:
            raise DomainError(ErrorCode.INVALID_INPUT, f"A limit is zero or more {unit}.", period)
    return limits


def _is_raise(old: int | None, new: int | None) -> bool:
    """Removing a limit or raising it loosens it; setting a first one or lowering tightens."""
    if new is None:
        return old is not None
    return old is not None and new > old


async def set_limits(
    user_id: int,
    requested: Limits,
    *,
    raise_delay_s: int,
    table: LimitTable = SpendingLimit,
    unit: str = "coins",
) -> LimitsState:
    """Tightened periods apply at once; loosened ones wait ``raise_delay_s``.

    A new request replaces a raise still waiting. ``table`` is whose limits: coins spent
    (``SpendingLimit``) or money paid for coins (``PurchaseLimit``), same rules.
    """
    _validate(requested, unit)

    async def work() -> LimitsState:
        now = utcnow()
        row = await table.select().where(table.user_id == user_id).first()
        current = _state_of(row, now).current
        immediate = {}
        loosened = False
        for period in PERIODS:
            old, new = current.get(period), requested.get(period)
            if _is_raise(old, new):
                loosened = True
                immediate[period] = old
            else:
                immediate[period] = new
        values = {
            "daily": immediate["daily"],
            "weekly": immediate["weekly"],
            "monthly": immediate["monthly"],
            "pending_daily": requested.daily if loosened else None,
            "pending_weekly": requested.weekly if loosened else None,
            "pending_monthly": requested.monthly if loosened else None,
            "pending_applies_at": now + timedelta(seconds=raise_delay_s) if loosened else None,
            "updated_at": now,
        }
        if row is None:
            await table.insert(table(user_id=user_id, **values))
        else:
            await table.update(values).where(table.id == row["id"])
        return _state_of({**values}, now)

    return await in_transaction(work)


async def purchase_limits_of(user_id: int) -> LimitsState:
    """The user's limits on money paid for coins (``app.purchases.limits`` checks them)."""
    return await limits_of(user_id, PurchaseLimit)


async def set_purchase_limits(
    user_id: int, requested: Limits, *, raise_delay_s: int
) -> LimitsState:
    """Limits on money paid for coins, in reference minor units, with ``set_limits``' rules."""
    return await set_limits(
        user_id, requested, raise_delay_s=raise_delay_s, table=PurchaseLimit, unit="minor units"
    )


async def record_spend(user: UserRecord, coins: int, *, platform: SpendingSettings) -> None:
    """Count ``coins`` spent now by ``user``; refuse if it would cross any limit.

    Call inside the spending operation's transaction, before the ledger transfers: the
    counter row it updates serializes one user's concurrent spends.
    """
    now = utcnow()
    today = now.date()
    rows = await SpendingDay.raw(
        "INSERT INTO spending_day (user_id, day, coins) VALUES ({}, {}, {}) "
        "ON CONFLICT (user_id, day) DO UPDATE SET coins = spending_day.coins + excluded.coins "
        "RETURNING coins",
        user.id,
        today,
        coins,
    )
    spent_today = rows[0]["coins"]
    young = now - user.created_at < timedelta(days=platform.new_account_days)
    if young and spent_today > platform.new_account_daily_coins:
        raise DomainError(
            ErrorCode.SPENDING_LIMIT_REACHED,
            f"New accounts may spend at most {platform.new_account_daily_coins} coins a "
            "day in their first week.",
        )
    limits = (await limits_of(user.id)).current
    if all(limits.get(period) is None for period in PERIODS):
        return
    totals = (await totals_of([user.id]))[user.id]
    for period, spent in zip(
        PERIODS, (totals.today, totals.this_week, totals.this_month), strict=True
    ):
        limit = limits.get(period)
        if limit is not None and spent > limit:
            raise DomainError(
                ErrorCode.SPENDING_LIMIT_REACHED,
                f"This would go over your {period} spending limit of {limit} coins.",
            )

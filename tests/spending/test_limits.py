"""Spending limits: checked in the gift's transaction from day counters; raises wait 24 h."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.core.clock import set_clock
from app.core.errors import DomainError, ErrorCode
from app.gifts.tables import GiftEvent
from app.ledger.tables import Transfer
from app.settings import SpendingSettings
from app.spending import service as spending
from app.spending.service import Limits
from app.users.service import get_user
from app.users.tables import User
from tests.factories import coins_of, make_gift, make_stream, make_user, send

DAY = 24 * 3600


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now
        set_clock(lambda: self.now)

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


async def refused_without_writes(*args, **kwargs) -> None:
    transfers, events = await Transfer.count(), await GiftEvent.count()
    totals_before = await spending.totals_of([args[0].id])
    with pytest.raises(DomainError) as refused:
        await send(*args, **kwargs)
    assert refused.value.code == ErrorCode.SPENDING_LIMIT_REACHED
    assert (await Transfer.count(), await GiftEvent.count()) == (transfers, events)
    assert await spending.totals_of([args[0].id]) == totals_before


@pytest.mark.parametrize("period", ["daily", "weekly", "monthly"])
async def test_a_send_that_would_cross_a_limit_is_refused(db, period: str) -> None:
    Clock(datetime(2026, 11, 25, 12, tzinfo=UTC))  # a Wednesday
    viewer = await make_user(coins=1_000)
    stream = await make_stream()
    gift = await make_gift("heart", coins=5)
    await spending.set_limits(viewer.id, Limits(**{period: 20}), raise_delay_s=DAY)

    await send(viewer, stream, gift, 4)  # exactly 20: allowed
    await refused_without_writes(viewer, stream, gift, 1)
    assert await coins_of(viewer.id) == 980


async def test_weekly_and_monthly_totals_span_days_and_reset(db) -> None:
    clock = Clock(datetime(2026, 11, 29, 12, tzinfo=UTC))  # Sunday
    viewer = await make_user(coins=1_000)
    stream = await make_stream()
    gift = await make_gift("rose", coins=10)
    await spending.set_limits(viewer.id, Limits(weekly=30, monthly=40), raise_delay_s=DAY)

    await send(viewer, stream, gift, 3)
    clock.advance(days=1)  # Monday 30 Nov: a new week, same month
    assert await spending.totals_of([viewer.id]) == {
        viewer.id: spending.SpendingTotals(today=0, this_week=0, this_month=30)
    }
    await send(viewer, stream, gift, 1)
    await refused_without_writes(viewer, stream, gift, 1)  # month would reach 50
    clock.advance(days=1)  # 1 December: new month, same week
    await send(viewer, stream, gift, 2)
    assert (await spending.totals_of([viewer.id]))[viewer.id] == spending.SpendingTotals(
        today=20, this_week=30, this_month=20
    )
    await refused_without_writes(viewer, stream, gift, 1)  # week would reach 40


async def test_lowering_applies_at_once_and_raising_after_the_cool_down(db) -> None:
    clock = Clock(datetime(2026, 11, 25, 0, 0, tzinfo=UTC))
    viewer = await make_user(coins=1_000)
    stream = await make_stream()
    gift = await make_gift("rose", coins=1)

    state = await spending.set_limits(viewer.id, Limits(daily=10), raise_delay_s=DAY)
    assert state.current.daily == 10
    assert state.pending is None
    await send(viewer, stream, gift, 10)

    state = await spending.set_limits(viewer.id, Limits(daily=50), raise_delay_s=DAY)
    assert state.current.daily == 10
    assert state.pending == Limits(daily=50)
    assert state.pending_applies_at == clock.now + timedelta(days=1)
    await refused_without_writes(viewer, stream, gift, 1)

    clock.advance(hours=23, minutes=59)
    await refused_without_writes(viewer, stream, gift, 1)  # still today, still 10
    clock.advance(minutes=1)
    assert (await spending.limits_of(viewer.id)).current.daily == 50
    await send(viewer, stream, gift, 50)  # a new day, the raised limit
    await refused_without_writes(viewer, stream, gift, 1)


async def test_removing_a_limit_waits_and_a_new_lowering_replaces_the_pending_raise(db) -> None:
    clock = Clock(datetime(2026, 11, 25, 12, tzinfo=UTC))
    viewer = await make_user()
    await spending.set_limits(viewer.id, Limits(daily=10, weekly=100), raise_delay_s=DAY)

    state = await spending.set_limits(viewer.id, Limits(), raise_delay_s=DAY)
    assert state.current == Limits(daily=10, weekly=100)
    assert state.pending == Limits()
    state = await spending.set_limits(viewer.id, Limits(daily=5, weekly=100), raise_delay_s=DAY)
    assert state.current == Limits(daily=5, weekly=100)
    assert state.pending is None
    clock.advance(days=2)
    assert (await spending.limits_of(viewer.id)).current == Limits(daily=5, weekly=100)


async def test_a_negative_limit_is_invalid(db) -> None:
    viewer = await make_user()
    with pytest.raises(DomainError) as refused:
        await spending.set_limits(viewer.id, Limits(weekly=-1), raise_delay_s=DAY)
    assert (refused.value.code, refused.value.field) == (ErrorCode.INVALID_INPUT, "weekly")


async def test_platform_limit_binds_accounts_younger_than_a_week(db) -> None:
    clock = Clock(datetime(2026, 11, 25, 12, tzinfo=UTC))
    platform = SpendingSettings(new_account_days=7, new_account_daily_coins=30)
    viewer = await make_user(coins=1_000)
    stream = await make_stream()
    gift = await make_gift("rose", coins=10)

    await send(viewer, stream, gift, 3, platform=platform)
    await refused_without_writes(viewer, stream, gift, 1, platform=platform)
    clock.advance(days=7)
    await send(viewer, stream, gift, 10, platform=platform)  # no longer a new account
    assert await coins_of(viewer.id) == 870


async def test_platform_limit_does_not_bind_older_accounts(db) -> None:
    Clock(datetime(2026, 11, 25, 12, tzinfo=UTC))
    platform = SpendingSettings(new_account_daily_coins=30)
    viewer = await make_user(coins=1_000)
    await User.update({User.created_at: datetime(2026, 1, 1, tzinfo=UTC)}).where(
        User.id == viewer.id
    )
    viewer = await get_user(viewer.id)
    stream = await make_stream()
    await send(viewer, stream, await make_gift("rose", coins=10), 5, platform=platform)
    assert await coins_of(viewer.id) == 950

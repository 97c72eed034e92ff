"""sendGift as a service: value moves once, every refusal writes nothing, races lose nothing."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from app.core.clock import set_clock
from app.core.database import current_engine, is_sqlite, open_pool
from app.core.errors import DomainError, ErrorCode
from app.gifts import catalog
from app.gifts.tables import GiftEvent
from app.integrity import verify_all
from app.ledger import system_balance
from app.ledger.codes import AccountCode
from app.ledger.tables import Operation, Transfer
from app.spending.tables import SpendingDay
from app.streams import service as streams
from app.streams.tables import StreamGifter
from app.users.tables import User
from tests.factories import (
    coins_of,
    diamonds_of,
    make_gift,
    make_stream,
    make_user,
    send,
)


async def nothing_written(transfers_before: int) -> None:
    assert await Transfer.count() == transfers_before
    assert await GiftEvent.count() == 0
    assert await StreamGifter.count() == 0
    assert await SpendingDay.count() == 0


async def test_send_moves_coins_to_sink_and_diamonds_to_host(db) -> None:
    viewer = await make_user(coins=100)
    host = await make_user()
    stream = await make_stream(host)
    lion = await make_gift("lion", coins=15)  # 7.5 diamonds, rounded half up to 8

    sent = await send(viewer, stream, lion, 3)

    assert (sent.event.coins, sent.event.diamonds, sent.event.quantity) == (45, 24, 3)
    assert await coins_of(viewer.id) == 55
    assert await diamonds_of(host.id) == 24
    assert await system_balance(AccountCode.COIN_SINK) == 45
    stream = await streams.get_stream(stream.id)
    assert (stream.coins_received, stream.gift_count) == (45, 3)
    kinds = [row["kind"] for row in await Transfer.select(Transfer.kind).order_by(Transfer.id)]
    assert kinds[-2:] == ["GIFT_SENT", "GIFT_RECEIVED"]


async def test_same_key_replays_and_other_input_is_refused(db) -> None:
    viewer = await make_user(coins=10)
    stream = await make_stream()
    rose = await make_gift("rose", coins=1)

    first = await send(viewer, stream, rose, 2, key="k1")
    again = await send(viewer, stream, rose, 2, key="k1")
    assert again.replayed
    assert again.event.id == first.event.id
    assert await coins_of(viewer.id) == 8
    with pytest.raises(DomainError) as refused:
        await send(viewer, stream, rose, 3, key="k1")
    assert refused.value.code == ErrorCode.IDEMPOTENCY_KEY_REUSED
    assert await GiftEvent.count() == 1


async def test_same_key_from_another_country_is_refused_not_replayed(db) -> None:
    """The country is an argument like any other: a retry that changes it is another request."""
    viewer = await make_user(coins=10)
    stream = await make_stream()
    rose = await make_gift("rose", coins=1)

    first = await send(viewer, stream, rose, 2, key="k1", country="US")
    again = await send(viewer, stream, rose, 2, key="k1", country="us")
    assert again.replayed
    assert again.event.id == first.event.id
    for other in ("FR", None):
        with pytest.raises(DomainError) as refused:
            await send(viewer, stream, rose, 2, key="k1", country=other)
        assert refused.value.code == ErrorCode.IDEMPOTENCY_KEY_REUSED
        assert refused.value.field == "idempotencyKey"
    # A send without a country keeps replaying without one.
    plain = await send(viewer, stream, rose, 1, key="k2")
    assert (await send(viewer, stream, rose, 1, key="k2")).event.id == plain.event.id
    assert await coins_of(viewer.id) == 7
    assert await GiftEvent.count() == 2
    assert (await verify_all()).ok


async def test_a_price_edit_keeps_past_events_at_their_price(db) -> None:
    viewer = await make_user(coins=100)
    stream = await make_stream()
    gift = await make_gift("doughnut", coins=30)
    before = await send(viewer, stream, gift)
    from fractions import Fraction

    await catalog.edit_gift(gift.id, name="Doughnut", coin_cost=40, creator_share=Fraction(1, 2))
    after = await send(viewer, stream, gift)

    assert (before.event.coins, after.event.coins) == (30, 40)
    assert before.event.gift_version_id != after.event.gift_version_id
    old = (await catalog.gifts_by_version_ids([before.event.gift_version_id]))[
        before.event.gift_version_id
    ]
    assert (old.coin_cost, old.diamond_value) == (30, 15)
    assert await coins_of(viewer.id) == 30


@pytest.mark.parametrize(
    ("case", "code", "field"),
    [
        ("ended", ErrorCode.STREAM_NOT_LIVE, "streamId"),
        ("retired", ErrorCode.GIFT_UNAVAILABLE, "giftId"),
        ("self", ErrorCode.SELF_GIFT, None),
        ("quantity", ErrorCode.INVALID_INPUT, "quantity"),
        ("minor", ErrorCode.AGE_RESTRICTED, None),
        ("frozen", ErrorCode.ACCOUNT_FROZEN, None),
        # Frozen while live, before the freeze's after-commit step ends the stream.
        ("frozen host", ErrorCode.STREAM_NOT_LIVE, "streamId"),
        ("poor", ErrorCode.INSUFFICIENT_FUNDS, None),
    ],
)
async def test_refusals_write_nothing(db, case: str, code: ErrorCode, field: str | None) -> None:
    viewer = await make_user(age=15 if case == "minor" else 30, coins=0 if case == "poor" else 50)
    host = await make_user()
    stream = await make_stream(host)
    gift = await make_gift("rose", coins=1)
    if case == "ended":
        await streams.end_stream(host.id, stream.id)
    if case == "retired":
        await catalog.set_retired(gift.id, True)
    if case == "frozen":
        await User.update({User.frozen: True}).where(User.id == viewer.id)
    if case == "frozen host":
        await User.update({User.frozen: True}).where(User.id == host.id)
    sender = host if case == "self" else viewer
    transfers_before = await Transfer.count()

    with pytest.raises(DomainError) as refused:
        await send(sender, stream, gift, 100 if case == "quantity" else 1)

    assert (refused.value.code, refused.value.field) == (code, field)
    await nothing_written(transfers_before)
    assert await coins_of(viewer.id) == (0 if case == "poor" else 50)
    assert await diamonds_of(host.id) == 0
    assert (await streams.get_stream(stream.id)).coins_received == 0


async def test_combo_counts_consecutive_same_gift_within_ten_seconds(db) -> None:
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    set_clock(lambda: now)
    viewer = await make_user(coins=100)
    stream = await make_stream()
    rose, heart = await make_gift("rose", coins=1), await make_gift("heart", coins=5)

    combos = []
    for gift, seconds in [(rose, 0), (rose, 5), (rose, 15), (rose, 25), (heart, 26), (rose, 27)]:
        now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC) + timedelta(seconds=seconds)
        combos.append((await send(viewer, stream, gift)).event.combo_count)

    # 5 s after: combo; 10 s after: still within; 10 s after that: still; another gift breaks it.
    assert combos == [1, 2, 3, 4, 1, 1]
    now += timedelta(seconds=11)
    assert (await send(viewer, stream, rose)).event.combo_count == 1


async def _with_pool() -> None:
    """PostgreSQL: bounded real connections for a burst; SQLite opens one per transaction."""
    if not is_sqlite():
        await open_pool(current_engine(), 20)


async def test_hundred_concurrent_sends_with_funds_for_sixty(db) -> None:
    viewer = await make_user(coins=60)
    host = await make_user()
    stream = await make_stream(host)
    rose = await make_gift("rose", coins=1)
    await _with_pool()

    results = await asyncio.gather(
        *(send(viewer, stream, rose, key=f"k{i}") for i in range(100)), return_exceptions=True
    )

    refused = [r for r in results if isinstance(r, Exception)]
    assert len(refused) == 40
    assert all(
        isinstance(r, DomainError) and r.code == ErrorCode.INSUFFICIENT_FUNDS for r in refused
    )
    assert await GiftEvent.count() == 60
    assert await coins_of(viewer.id) == 0
    assert await diamonds_of(host.id) == 60
    stream = await streams.get_stream(stream.id)
    assert (stream.coins_received, stream.gift_count) == (60, 60)
    assert (await SpendingDay.select(SpendingDay.coins).first())["coins"] == 60
    assert await Operation.count().where(Operation.kind == "SEND_GIFT") == 60


async def test_twenty_viewers_at_once_lose_no_diamond(db) -> None:
    host = await make_user()
    stream = await make_stream(host)
    gift = await make_gift("heart", coins=5)
    viewers = [await make_user(coins=50) for _ in range(20)]
    await _with_pool()

    await asyncio.gather(*(send(v, stream, gift, 2) for v in viewers))

    assert await diamonds_of(host.id) == 20 * 2 * 3  # 5 x 0.5 = 2.5, rounded up to 3
    assert [await coins_of(v.id) for v in viewers] == [40] * 20
    stream = await streams.get_stream(stream.id)
    assert (stream.coins_received, stream.gift_count) == (200, 40)
    assert await StreamGifter.count() == 20


async def test_freezing_a_live_host_ends_their_stream_and_stops_their_earnings(db) -> None:
    from app.users import service as users
    from tests.factories import staff

    viewer = await make_user(coins=50)
    host = await make_user()
    stream = await make_stream(host)
    gift = await make_gift("rose", coins=1)
    await send(viewer, stream, gift)

    await users.set_frozen(host.id, frozen=True, reason="laundering", actor=staff("mo"))
    with pytest.raises(DomainError) as refused:
        await send(viewer, stream, gift)

    assert (refused.value.code, refused.value.field) == (ErrorCode.STREAM_NOT_LIVE, "streamId")
    assert not (await streams.get_stream(stream.id)).is_live
    assert await streams.live_streams_of_hosts([host.id]) == {}
    assert await coins_of(viewer.id) == 49
    assert await diamonds_of(host.id) == 1

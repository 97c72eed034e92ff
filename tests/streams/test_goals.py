"""Stream goals as a service: filled by the settlement beside the stream totals, read exact."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.core.clock import set_clock
from app.core.errors import DomainError, ErrorCode
from app.gifts import catalog, goals, settlement
from app.gifts.tables import GiftCredit
from app.streams import service as streams
from app.streams.goals import GoalKind
from app.streams.tables import StreamGoal
from tests.factories import make_gift, make_stream, make_user, send, settled

START = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def at(seconds: int) -> None:
    set_clock(lambda: START + timedelta(seconds=seconds))


async def goal_of(stream_id: int):
    return (await settlement.goals_by_stream_ids([stream_id])).get(stream_id)


async def test_gift_goal_counts_its_gift_from_when_it_was_set(db) -> None:
    viewer = await make_user(coins=100)
    host = await make_user()
    stream = await make_stream(host)
    rose, heart = await make_gift("rose"), await make_gift("heart", coins=5)
    at(0)
    await send(viewer, stream, rose, 4)  # before the goal: not counted
    at(10)
    goal = await goals.set_stream_goal(host.id, stream.id, gift_id=rose.id, count=5, title="Roses")
    assert (goal.kind, goal.target, goal.progress, goal.title) == (GoalKind.GIFT, 5, 0, "Roses")

    at(20)
    await send(viewer, stream, rose, 3)
    await send(viewer, stream, heart, 2)  # another gift: not counted
    # Queued, not settled: the read counts the queue, the row does not yet.
    assert await GiftCredit.count() == 3
    assert (await goal_of(stream.id)).progress == 3
    assert (await StreamGoal.select(StreamGoal.progress).first())["progress"] == 0

    at(30)
    completing = await send(viewer, stream, rose, 2)
    read = await goal_of(stream.id)
    assert (read.progress, read.completed_at) == (5, START + timedelta(seconds=30))
    assert read.completed_by_event_id == completing.event.id

    await settled()
    assert await goal_of(stream.id) == read  # settling changes nothing a reader sees
    row = await StreamGoal.select().first()
    assert (row["progress"], row["completed_by_event_id"]) == (5, completing.event.id)

    at(40)
    await send(viewer, stream, rose, 1)
    await settled()
    after = await goal_of(stream.id)
    assert (after.progress, after.completed_by_event_id) == (6, completing.event.id)


async def test_coins_goal_is_settled_in_batches_as_it_is_read(db) -> None:
    viewer = await make_user(coins=1000)
    host = await make_user()
    stream, other = await make_stream(host), await make_stream()
    rose, heart = await make_gift("rose"), await make_gift("heart", coins=5)
    await goals.set_stream_goal(host.id, stream.id, coins=20)
    for gift, quantity in [(rose, 3), (heart, 2), (heart, 1)]:
        await send(viewer, stream, gift, quantity)
        assert (await goal_of(stream.id)).completed_at is None
        await send(viewer, other, heart, 1)  # another stream: never counted
    await settlement.settle(limit=2)  # part of the queue: still exact
    assert (await goal_of(stream.id)).progress == 18
    await send(viewer, stream, rose, 2)
    await settled()
    goal = await goal_of(stream.id)
    assert (goal.kind, goal.progress, goal.completed) == (GoalKind.COINS, 20, True)
    assert await goal_of(other.id) is None


async def test_a_new_goal_replaces_the_old_and_clearing_ends_it(db) -> None:
    viewer = await make_user(coins=100)
    host = await make_user()
    stream = await make_stream(host)
    rose = await make_gift("rose")
    at(0)
    await goals.set_stream_goal(host.id, stream.id, coins=5)
    await send(viewer, stream, rose, 2)
    at(10)
    await goals.set_stream_goal(host.id, stream.id, gift_id=rose.id, count=3)
    at(20)
    await send(viewer, stream, rose, 1)
    await settled()
    goal = await goal_of(stream.id)
    assert (goal.kind, goal.progress) == (GoalKind.GIFT, 1)
    # The replaced goal stays as history, with what was settled while it was active (the
    # rose sent to it was still queued when it was replaced).
    rows = await StreamGoal.select().order_by(StreamGoal.id)
    assert [(r["kind"], r["progress"], r["cleared_at"] is None) for r in rows] == [
        ("COINS", 0, False),
        ("GIFT", 1, True),
    ]
    await goals.clear_stream_goal(host.id, stream.id)
    assert await goal_of(stream.id) is None
    await goals.clear_stream_goal(host.id, stream.id)  # nothing to clear: fine


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({}, "giftId"),
        ({"count": 3}, "giftId"),
        ({"gift": True}, "count"),
        ({"gift": True, "count": 0}, "count"),
        ({"coins": 0}, "coins"),
        ({"coins": 5, "gift": True, "count": 1}, "coins"),
        ({"coins": 5, "title": "x" * 121}, "title"),
        ({"coins": 5, "title": "bad\x00title"}, "title"),
    ],
)
async def test_invalid_goals_are_refused(db, fields: dict, field: str) -> None:
    host = await make_user()
    stream = await make_stream(host)
    rose = await make_gift("rose")
    fields = dict(fields)  # the parameter is shared by the SQLite and PostgreSQL runs
    gift_id = rose.id if fields.pop("gift", False) else None
    with pytest.raises(DomainError) as refused:
        await goals.set_stream_goal(host.id, stream.id, gift_id=gift_id, **fields)
    assert (refused.value.code, refused.value.field) == (ErrorCode.INVALID_INPUT, field)
    assert await StreamGoal.count() == 0


async def test_only_the_host_of_a_live_stream_sets_a_goal_for_a_gift_on_sale(db) -> None:
    host, stranger = await make_user(), await make_user()
    stream = await make_stream(host)
    retired = await make_gift("old")
    await catalog.set_retired(retired.id, True)
    with pytest.raises(DomainError) as refused:
        await goals.set_stream_goal(stranger.id, stream.id, coins=5)
    assert refused.value.code == ErrorCode.FORBIDDEN
    with pytest.raises(DomainError) as refused:
        await goals.clear_stream_goal(stranger.id, stream.id)
    assert refused.value.code == ErrorCode.FORBIDDEN
    for gift_id in (retired.id, 999_999):
        with pytest.raises(DomainError) as refused:
            await goals.set_stream_goal(host.id, stream.id, gift_id=gift_id, count=1)
        assert (refused.value.code, refused.value.field) == (ErrorCode.GIFT_UNAVAILABLE, "giftId")
    await streams.end_stream(host.id, stream.id)
    with pytest.raises(DomainError) as refused:
        await goals.set_stream_goal(host.id, stream.id, coins=5)
    assert refused.value.code == ErrorCode.STREAM_NOT_LIVE
    assert await StreamGoal.count() == 0

"""Concurrent sends and settlements: a goal counts every gift once; a message is stored once."""

from __future__ import annotations

import asyncio

import pytest

from app.gifts import goals, settlement
from app.gifts.tables import GiftEvent, GiftMessage
from app.streams.tables import StreamGoal
from tests.concurrency.helpers import concurrent_connections, unexpected
from tests.factories import coins_of, make_gift, make_stream, make_user, send

pytestmark = pytest.mark.usefixtures("db")


async def test_concurrent_copies_of_a_gift_with_a_message_store_it_once() -> None:
    viewer = await make_user(coins=100)
    stream = await make_stream()
    rose = await make_gift("rose")
    await concurrent_connections(6)

    answers = await asyncio.gather(
        *(send(viewer, stream, rose, key="tap", message="hi!") for _ in range(8)),
        return_exceptions=True,
    )

    assert unexpected(answers) == []
    assert {a.event.message for a in answers} == {"hi!"}  # type: ignore[union-attr]
    assert (await GiftEvent.count(), await GiftMessage.count()) == (1, 1)
    assert await coins_of(viewer.id) == 99


async def test_settlements_racing_sends_count_each_gift_into_the_goal_once() -> None:
    senders = [await make_user(coins=100) for _ in range(4)]
    host = await make_user()
    stream = await make_stream(host)
    heart = await make_gift("heart", coins=3)
    await goals.set_stream_goal(host.id, stream.id, coins=50)
    await concurrent_connections(8)

    async def gifts_of(sender) -> None:
        for _ in range(5):
            await send(sender, stream, heart)

    async def settle_a_few() -> None:
        for _ in range(5):
            await settlement.settle(limit=3)

    outcomes = await asyncio.gather(
        *(gifts_of(s) for s in senders),
        *(settle_a_few() for _ in range(3)),
        return_exceptions=True,
    )
    assert unexpected(outcomes) == []
    await settlement.settle_all()

    goal = (await settlement.goals_by_stream_ids([stream.id]))[stream.id]
    assert (goal.progress, goal.completed) == (60, True)
    row = await StreamGoal.select().first()
    assert row["progress"] == 60
    assert row["completed_by_event_id"] is not None

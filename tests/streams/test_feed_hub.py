"""The feed's bounds, without a database: a slow subscriber and a stuck Redis cost events,
never the other subscribers or the publisher."""

from __future__ import annotations

import asyncio
import contextlib

from app.graphql.loaders import SharedLoaders
from app.settings import FeedSettings
from app.streams.feed import InProcessFeed, RedisFeed
from tests.conftest import Database
from tests.factories import make_user
from tests.streams.live import HungRedis, wait_until

STREAM = 7


async def test_a_subscriber_that_does_not_keep_up_loses_events_and_no_one_else_does() -> None:
    feed = InProcessFeed(FeedSettings(subscriber_queue_size=5))
    received: list[bytes] = []
    stalled = asyncio.Event()

    async def keep_up() -> None:
        async with contextlib.aclosing(feed.subscribe(STREAM, user_id=1)) as deliveries:
            async for delivery in deliveries:
                received.append(delivery.message)
                if len(received) == 20:
                    return

    async def stall() -> None:
        async with contextlib.aclosing(feed.subscribe(STREAM, user_id=2)) as deliveries:
            async for _ in deliveries:
                stalled.set()
                await asyncio.Event().wait()  # a socket that never drains

    readers = [asyncio.create_task(keep_up()), asyncio.create_task(stall())]

    async def both() -> bool:
        return feed.subscriber_count(STREAM) == 2

    await wait_until(both, "both subscribers")
    messages = [str(n).encode() for n in range(20)]
    for message in messages:
        feed.publish(STREAM, message)  # returns at once, whoever is slow
        await asyncio.sleep(0)
    await asyncio.wait_for(readers[0], 10)

    assert received == messages
    assert stalled.is_set()
    # The stalled one took the first, holds five, and lost the rest: counted.
    assert feed.hub.dropped == 20 - 1 - 5
    readers[1].cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await readers[1]
    assert feed.subscriber_count(STREAM) == 0


async def test_a_full_outbox_drops_feed_events_and_never_blocks_the_publisher() -> None:
    hung = HungRedis()
    feed = RedisFeed(await hung.start(), "coins-test", FeedSettings(outbox_size=3))
    await feed.start()
    try:
        for n in range(10):
            feed.publish(STREAM, str(n).encode())
        assert feed.publish_dropped == 7
    finally:
        await feed.close()
        await hung.stop()


async def test_a_subscriber_leaving_mid_load_does_not_fail_the_others_on_that_load(
    db: Database,
) -> None:
    vera = await make_user("vera")
    loaders = SharedLoaders()  # one event's, shared by its subscribers

    async def show_sender() -> str | None:
        user = await loaders.user_by_id.load(vera.id)
        return user.handle if user else None

    leaving, staying = asyncio.create_task(show_sender()), asyncio.create_task(show_sender())
    await asyncio.sleep(0)  # both wait on the one load
    leaving.cancel()  # that socket closed
    assert await asyncio.wait_for(staying, 10) == "vera"
    assert leaving.cancelled()


async def test_events_queued_behind_a_publish_that_timed_out_are_dropped_and_counted() -> None:
    hung = HungRedis()
    feed = RedisFeed(await hung.start(), "coins-test", FeedSettings(redis_timeout_ms=100))
    await feed.start()
    try:
        for n in range(5):
            feed.publish(STREAM, str(n).encode())

        async def gave_up() -> bool:
            return feed.publish_failed == 1

        await wait_until(gave_up, "the first publish to time out")
        # Stale by then: not sent one timeout after another once Redis answers again.
        assert (feed.published, feed.publish_dropped) == (0, 4)
    finally:
        await feed.close()
        await hung.stop()

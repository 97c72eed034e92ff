"""Live streams: going live, the streams list and the live gift feed."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing
from functools import partial

import strawberry

from app.gifts import goals, settlement
from app.gifts.queries import decode_event
from app.graphql import ids
from app.graphql.context import CoinsInfo, Context, require_viewer_id, require_viewer_until
from app.graphql.errors import MutationError
from app.graphql.fanout import SharedRenders
from app.graphql.loaders import SharedLoaders
from app.graphql.mutations import mutation
from app.graphql.pagination import Connection, Cursor, paginate
from app.graphql.types.nodes import GiftEvent, LiveStream
from app.streams import service as streams
from app.streams.feed import Delivery
from app.streams.service import StreamRecord

# Most coins first, then oldest first: the cursor carries (id, coins received).
LIVE_STREAMS: Cursor[StreamRecord, tuple[int, int]] = Cursor(
    "LiveStream", lambda stream: (stream.id, stream.coins_received), size=2
)


async def live_streams_after(
    info: CoinsInfo, limit: int, after: tuple[int, int] | None
) -> list[StreamRecord]:
    """A page of live streams, each primed in the loader its fields read it from."""
    # The cursor says (id, coins); the service continues after (coins, id).
    keyset = None if after is None else (after[1], after[0])
    rows = await settlement.live_streams(limit=limit, after=keyset)
    for row in rows:
        info.context.loaders.stream_by_id.prime(row.id, row)
    return rows


@strawberry.input
class StartLiveStreamInput:
    title: str


@strawberry.input
class EndLiveStreamInput:
    stream_id: strawberry.ID


@strawberry.input(
    description="A gift and a count (giftId, count), or coins; title is optional. Replaces "
    "the stream's goal, counting gifts from now."
)
class SetStreamGoalInput:
    stream_id: strawberry.ID
    gift_id: strawberry.ID | None = None
    count: int | None = None
    coins: int | None = None
    title: str | None = None


@strawberry.input
class ClearStreamGoalInput:
    stream_id: strawberry.ID


@strawberry.type
class LiveStreamPayload:
    live_stream: LiveStream | None = None
    errors: list[MutationError] = strawberry.field(default_factory=list)


async def _exact_stream(stream_id: int) -> LiveStream:
    """The stream with what is still queued counted in its totals."""
    return LiveStream(record=(await settlement.streams_by_ids([stream_id]))[stream_id])


@strawberry.type
class StreamsQuery:
    @strawberry.field
    async def live_stream(self, info: CoinsInfo, id: strawberry.ID) -> LiveStream | None:
        record = await ids.LIVE_STREAM.load(id, info.context.loaders.stream_by_id)
        return LiveStream(record=record) if record else None

    @strawberry.field(description="Streams that are live now, most coins received first.")
    async def live_streams(
        self, info: CoinsInfo, first: int = 20, after: str | None = None
    ) -> Connection[LiveStream]:
        return await paginate(
            info,
            first,
            after,
            LIVE_STREAMS,
            lambda limit, position: live_streams_after(info, limit, position),
            lambda stream: LiveStream(record=stream),
        )


@strawberry.type
class StreamsMutation:
    @mutation
    async def start_live_stream(
        self, info: CoinsInfo, input: StartLiveStreamInput
    ) -> LiveStreamPayload:
        stream = await streams.start_stream(await require_viewer_id(info), input.title)
        return LiveStreamPayload(live_stream=LiveStream(record=stream))

    @mutation
    async def end_live_stream(
        self, info: CoinsInfo, input: EndLiveStreamInput
    ) -> LiveStreamPayload:
        viewer_id = await require_viewer_id(info)
        stream_id = ids.LIVE_STREAM.decode(input.stream_id, "streamId")
        stream = await streams.end_stream(viewer_id, stream_id)
        return LiveStreamPayload(live_stream=LiveStream(record=stream))

    @mutation(description="The host sets their live stream's goal; gifts fill it.")
    async def set_stream_goal(
        self, info: CoinsInfo, input: SetStreamGoalInput
    ) -> LiveStreamPayload:
        stream_id = ids.LIVE_STREAM.decode(input.stream_id, "streamId")
        gift_id = None if input.gift_id is None else ids.GIFT.decode(input.gift_id, "giftId")
        host_id = await require_viewer_id(info)
        target = {"gift_id": gift_id, "count": input.count, "coins": input.coins}
        await goals.set_stream_goal(host_id, stream_id, title=input.title, **target)
        return LiveStreamPayload(live_stream=await _exact_stream(stream_id))

    @mutation(description="The host clears their stream's goal.")
    async def clear_stream_goal(
        self, info: CoinsInfo, input: ClearStreamGoalInput
    ) -> LiveStreamPayload:
        viewer_id = await require_viewer_id(info)
        stream_id = ids.LIVE_STREAM.decode(input.stream_id, "streamId")
        await goals.clear_stream_goal(viewer_id, stream_id)
        return LiveStreamPayload(live_stream=await _exact_stream(stream_id))


def _shown(context: Context, delivery: Delivery) -> GiftEvent:
    """A feed event as its subscribers show it. The event comes in the message; the loaders
    are fresh per event (totals and names change while a socket stays open) and shared by
    the event's subscribers."""
    context.loaders = delivery.shared("loaders", SharedLoaders)
    return delivery.shared("shown", partial(_feed_event, delivery.message))


def _feed_event(message: bytes) -> GiftEvent:
    return GiftEvent(record=decode_event(message), renders=SharedRenders())


@strawberry.type
class StreamsSubscription:
    @strawberry.subscription(description="Every gift sent in one live stream, as it is sent.")
    async def gift_sent(
        self, info: CoinsInfo, stream_id: strawberry.ID
    ) -> AsyncGenerator[GiftEvent, None]:
        viewer, expires_at = await require_viewer_until(info)
        stream = await streams.get_stream(ids.LIVE_STREAM.decode(stream_id, "streamId"))
        feed = info.context.feed.subscribe(stream.id, viewer.id, expires_at=expires_at)
        with info.context.subscription_slot():
            async with aclosing(feed):  # leave the stream now, not when collected
                async for delivery in feed:
                    yield _shown(info.context, delivery)

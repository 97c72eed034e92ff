"""Live streams: going live, the streams list, leaderboards and the live gift feed."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime

import strawberry

from app.core.errors import DomainError, ErrorCode
from app.core.ids import decode_id, decode_opaque, encode_id, encode_opaque
from app.gifts import queries as gift_events
from app.graphql.context import CoinsInfo, require_viewer
from app.graphql.errors import MutationError, run_mutation
from app.graphql.loaders import Loaders
from app.graphql.pagination import PageInfo, check_page_size
from app.graphql.types.gifts import GiftEvent, visible_user
from app.graphql.types.users import User
from app.streams import service as streams
from app.streams.service import StreamRecord, StreamStatus

LiveStreamStatus = strawberry.enum(StreamStatus, name="LiveStreamStatus")

MAX_LEADERBOARD = 100


@strawberry.type
class GifterRank:
    rank: int
    sender_id: strawberry.Private[int]
    coins: int

    @strawberry.field(description="Null when the gifter has opted out of leaderboards.")
    async def user(self, info: CoinsInfo) -> User | None:
        return await visible_user(info, self.sender_id)


@strawberry.type
class LiveStream:
    record: strawberry.Private[StreamRecord]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(encode_id("LiveStream", self.record.id))

    @strawberry.field
    def title(self) -> str:
        return self.record.title

    @strawberry.field
    async def host(self, info: CoinsInfo) -> User:
        record = await info.context.loaders.user_by_id.load(self.record.host_id)
        assert record is not None
        return User(record=record)

    @strawberry.field
    def status(self) -> LiveStreamStatus:
        return StreamStatus(self.record.status)

    @strawberry.field
    def started_at(self) -> datetime:
        return self.record.started_at

    @strawberry.field
    def ended_at(self) -> datetime | None:
        return self.record.ended_at

    @strawberry.field
    def coins_received(self) -> int:
        return self.record.coins_received

    @strawberry.field
    def gift_count(self) -> int:
        return self.record.gift_count

    @strawberry.field
    async def top_gifters(self, info: CoinsInfo, first: int = 10) -> list[GifterRank]:
        check_page_size(first, MAX_LEADERBOARD)
        ranks = await info.context.loaders.top_gifters_by_stream.load((self.record.id, first))
        return [GifterRank(rank=r.rank, sender_id=r.sender_id, coins=r.coins) for r in ranks]

    @strawberry.field
    async def recent_gifts(self, info: CoinsInfo, first: int = 20) -> list[GiftEvent]:
        check_page_size(first, info.context.settings.graphql.max_page_size)
        events = await info.context.loaders.recent_gifts_by_stream.load((self.record.id, first))
        return [GiftEvent(record=event) for event in events]


@strawberry.type
class LiveStreamEdge:
    node: LiveStream
    cursor: str


@strawberry.type
class LiveStreamConnection:
    edges: list[LiveStreamEdge]
    page_info: PageInfo


STREAM_CURSOR = "cursor.LiveStream"


def _stream_cursor(stream: StreamRecord) -> str:
    return (
        encode_opaque(STREAM_CURSOR, stream.id)
        + "."
        + encode_opaque(STREAM_CURSOR, stream.coins_received)
    )


def _decode_stream_cursor(cursor: str | None) -> tuple[int, int] | None:
    if cursor is None:
        return None
    stream_part, _, coins_part = cursor.partition(".")
    stream_id = decode_opaque(STREAM_CURSOR, stream_part)
    coins = decode_opaque(STREAM_CURSOR, coins_part)
    if stream_id is None or coins is None:
        raise DomainError(
            ErrorCode.INVALID_INPUT, "That cursor is not one this list gave out.", "after"
        )
    return coins, stream_id


@strawberry.input
class StartLiveStreamInput:
    title: str


@strawberry.input
class EndLiveStreamInput:
    stream_id: strawberry.ID


@strawberry.type
class LiveStreamPayload:
    live_stream: LiveStream | None = None
    errors: list[MutationError] = strawberry.field(default_factory=list)


@strawberry.type
class StreamsQuery:
    @strawberry.field
    async def live_stream(self, info: CoinsInfo, id: strawberry.ID) -> LiveStream | None:
        try:
            stream_id = decode_id("LiveStream", id)
        except DomainError:
            return None
        record = await info.context.loaders.stream_by_id.load(stream_id)
        return LiveStream(record=record) if record else None

    @strawberry.field(description="Streams that are live now, most coins received first.")
    async def live_streams(
        self, info: CoinsInfo, first: int = 20, after: str | None = None
    ) -> LiveStreamConnection:
        limit = check_page_size(first, info.context.settings.graphql.max_page_size)
        rows = await streams.list_live(limit=limit + 1, after=_decode_stream_cursor(after))
        page = rows[:limit]
        for row in page:
            info.context.loaders.stream_by_id.prime(row.id, row)
        edges = [LiveStreamEdge(node=LiveStream(record=r), cursor=_stream_cursor(r)) for r in page]
        return LiveStreamConnection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=len(rows) > limit, end_cursor=edges[-1].cursor if edges else None
            ),
        )


@strawberry.type
class StreamsMutation:
    @strawberry.mutation
    async def start_live_stream(
        self, info: CoinsInfo, input: StartLiveStreamInput
    ) -> LiveStreamPayload:
        async def action() -> LiveStreamPayload:
            viewer = await require_viewer(info)
            stream = await streams.start_stream(viewer.id, input.title)
            return LiveStreamPayload(live_stream=LiveStream(record=stream))

        return await run_mutation(LiveStreamPayload, action)

    @strawberry.mutation
    async def end_live_stream(
        self, info: CoinsInfo, input: EndLiveStreamInput
    ) -> LiveStreamPayload:
        async def action() -> LiveStreamPayload:
            viewer = await require_viewer(info)
            stream_id = decode_id("LiveStream", input.stream_id, "streamId")
            stream = await streams.end_stream(viewer.id, stream_id)
            return LiveStreamPayload(live_stream=LiveStream(record=stream))

        return await run_mutation(LiveStreamPayload, action)


@strawberry.type
class StreamsSubscription:
    @strawberry.subscription(description="Every gift sent in one live stream, as it is sent.")
    async def gift_sent(
        self, info: CoinsInfo, stream_id: strawberry.ID
    ) -> AsyncGenerator[GiftEvent, None]:
        await require_viewer(info)
        stream = decode_id("LiveStream", stream_id, "streamId")
        await streams.get_stream(stream)
        async for event_id in info.context.feed.subscribe(stream):
            # Fresh loaders per event: totals and names change while a socket stays open.
            info.context.loaders = Loaders()
            yield GiftEvent(record=await gift_events.get_event(event_id))

"""The live feed over graphql-transport-ws: authenticated, in order, only committed gifts."""

from __future__ import annotations

import uuid

import pytest
import redis.asyncio as aioredis
from litestar.exceptions import WebSocketDisconnect
from litestar.testing import AsyncTestClient

from app.core.ids import encode_id
from app.main import create_app
from app.settings import Settings, SpendingSettings
from app.users.tokens import issue_token
from tests.factories import make_gift, make_stream, make_user
from tests.graphql.helpers import gql
from tests.streams.live import (
    REDIS_URL,
    SEND,
    next_client_event,
    open_subscription,
    redis_or_skip,
    wait_until,
)


async def send_via(client: AsyncTestClient, token: str, variables: dict) -> list[str]:
    result = await gql(client, SEND, variables, token=token)
    return [error["code"] for error in result["sendGift"]["errors"]]


@pytest.fixture
def settings(db) -> Settings:
    """A combo window no slow machine outlasts: the combo counts asserted below must not
    depend on how fast the sends follow each other."""
    return db.settings(spending=SpendingSettings(combo_window_s=3600))


async def test_subscriber_gets_committed_gifts_in_order(client: AsyncTestClient, settings):
    viewer = await make_user("vera", coins=12)
    stream = await make_stream()
    rose, heart = await make_gift("rose"), await make_gift("heart", coins=5)
    token = issue_token(viewer.id, settings.auth)
    stream_id = encode_id("LiveStream", stream.id)
    feed = client.app.state.feed

    ws = await open_subscription(client, token, stream_id)
    try:
        await wait_until(lambda: _true(feed.subscriber_count(stream.id) == 1), "subscriber")
        base = {"stream": stream_id, "gift": encode_id("Gift", rose.id)}
        assert await send_via(client, token, {**base, "quantity": 2, "key": "a"}) == []
        # Rolled back (not enough coins): nothing may reach the feed.
        refused = {**base, "gift": encode_id("Gift", heart.id), "quantity": 3, "key": "b"}
        assert await send_via(client, token, refused) == ["INSUFFICIENT_FUNDS"]
        assert await send_via(client, token, {**base, "quantity": 1, "key": "c"}) == []
        # A replay is not a new gift either.
        assert await send_via(client, token, {**base, "quantity": 1, "key": "c"}) == []
        assert await send_via(client, token, {**base, "quantity": 4, "key": "d"}) == []

        events = [next_client_event(ws) for _ in range(3)]
        assert [(e["quantity"], e["comboCount"], e["gift"]["slug"]) for e in events] == [
            (2, 1, "rose"),
            (1, 2, "rose"),
            (4, 3, "rose"),
        ]
        assert events[0]["sender"] == {"handle": "vera"}
        # An event shows the stream as it is when the event is delivered: never less than
        # its own gift brought it to, never going down, every gift counted by the last.
        totals = [e["stream"]["coinsReceived"] for e in events]
        assert totals == sorted(totals)
        assert [min(t, cap) for t, cap in zip(totals, (2, 3, 7), strict=True)] == [2, 3, 7]
        assert totals[-1] == 7
    finally:
        ws.__exit__(None, None, None)


async def _true(value: bool) -> bool:
    return value


async def test_connection_without_a_valid_token_is_rejected(client: AsyncTestClient) -> None:
    ws = await client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"])
    ws.__enter__()
    try:
        ws.send_json({"type": "connection_init", "payload": {"Authorization": "Bearer nope"}})
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive(timeout=10)
        assert closed.value.code == 4403
    finally:
        ws.__exit__(None, None, None)


async def test_gift_sent_through_one_instance_reaches_a_subscriber_of_another(db) -> None:
    await redis_or_skip()
    prefix = f"coins-test-{uuid.uuid4().hex}"
    settings = db.settings(redis_url=REDIS_URL, redis_channel_prefix=prefix)
    viewer = await make_user("vera", coins=10)
    stream = await make_stream()
    rose = await make_gift("rose")
    token = issue_token(viewer.id, settings.auth)
    stream_id = encode_id("LiveStream", stream.id)
    channel = f"{prefix}:gifts:{stream.id}"
    probe = aioredis.from_url(REDIS_URL)

    async def subscribed() -> bool:
        counts = await probe.pubsub_numsub(channel)
        return bool(counts) and counts[0][1] == 1

    async with (
        AsyncTestClient(create_app(settings)) as sender_app,
        AsyncTestClient(create_app(settings)) as watcher_app,
    ):
        ws = await open_subscription(watcher_app, token, stream_id)
        try:
            await wait_until(subscribed, "the Redis subscription")
            variables = {"stream": stream_id, "gift": encode_id("Gift", rose.id)}
            assert await send_via(sender_app, token, {**variables, "quantity": 3, "key": "x"}) == []
            event = next_client_event(ws)
            assert (event["quantity"], event["gift"]["slug"]) == (3, "rose")
            assert event["stream"]["coinsReceived"] == 3
        finally:
            ws.__exit__(None, None, None)
            await probe.aclose()

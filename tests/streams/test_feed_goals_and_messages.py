"""The live feed carries a gift's message and its stream's goal progress and completion."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from litestar.testing import AsyncTestClient

from app.core.ids import encode_id
from app.gifts import goals, messages
from app.gifts.queries import encode_event
from app.graphql.types.streams import _shown
from app.settings import Settings, SpendingSettings
from app.streams.feed import Delivery
from app.users.tokens import issue_token
from tests.factories import make_gift, make_stream, make_user, send
from tests.graphql.helpers import gql
from tests.streams.live import next_client_event, open_subscription, wait_until

SUBSCRIBE = """subscription($stream: ID!) {
  giftSent(streamId: $stream) {
    quantity message completedGoal goal { kind target progress completed completedAt }
  }
}"""
SEND = """mutation($stream: ID!, $gift: ID!, $quantity: Int!, $key: String!, $message: String) {
  sendGift(input: {streamId: $stream, giftId: $gift, quantity: $quantity, idempotencyKey: $key,
                   message: $message}) {
    errors { code }
  }
}"""


@pytest.fixture
def settings(db) -> Settings:
    return db.settings(spending=SpendingSettings(combo_window_s=3600))


async def _true(value: bool) -> bool:
    return value


async def test_feed_events_show_messages_and_goal_progress_to_completion(
    client: AsyncTestClient, settings: Settings
) -> None:
    viewer, host = await make_user("vera", coins=20), await make_user("ana")
    stream = await make_stream(host)
    rose = await make_gift("rose")
    await goals.set_stream_goal(host.id, stream.id, gift_id=rose.id, count=4)
    token = issue_token(viewer.id, settings.auth)
    stream_id = encode_id("LiveStream", stream.id)
    feed = client.app.state.feed

    ws = await open_subscription(client, token, stream_id, SUBSCRIBE)
    try:
        await wait_until(lambda: _true(feed.subscriber_count(stream.id) == 1), "subscriber")
        base = {"stream": stream_id, "gift": encode_id("Gift", rose.id)}
        for key, quantity, message in [("a", 1, " go go "), ("b", 2, None), ("c", 1, "done!")]:
            variables = {**base, "quantity": quantity, "key": key, "message": message}
            assert (await gql(client, SEND, variables, token=token))["sendGift"]["errors"] == []
        events = [next_client_event(ws) for _ in range(3)]
    finally:
        ws.__exit__(None, None, None)

    assert [(e["quantity"], e["message"]) for e in events] == [
        (1, "go go"),
        (2, None),
        (1, "done!"),
    ]
    # Each event shows the goal as it is when delivered: never less than its own gift
    # brought it to, never going down; the last gift completed it, and only that one says so.
    progress = [e["goal"]["progress"] for e in events]
    assert progress == sorted(progress)
    assert [min(p, cap) for p, cap in zip(progress, (1, 3, 4), strict=True)] == [1, 3, 4]
    assert [e["completedGoal"] for e in events] == [False, False, True]
    final = events[-1]["goal"]
    assert (final["kind"], final["target"], final["completed"]) == ("GIFT", 4, True)
    assert final["completedAt"] is not None


async def test_a_message_hidden_after_its_event_was_published_reads_null(db) -> None:
    """A feed message carries the text; a reader resolving it after the host hid it (a slow
    subscriber, a Redis hop) must show null, like every other read."""
    viewer, host = await make_user(coins=5), await make_user()
    stream = await make_stream(host)
    rose = await make_gift("rose")
    sent = await send(viewer, stream, rose, message="rude")
    published = Delivery(encode_event(sent.event))

    def shown_message(delivery: Delivery):
        context = SimpleNamespace(loaders=None)
        event = _shown(context, delivery)  # type: ignore[arg-type]
        return event.message(SimpleNamespace(context=context))  # type: ignore[arg-type]

    assert await shown_message(published) == "rude"
    await messages.hide_message(sent.event.id, host_id=host.id)
    assert await shown_message(Delivery(encode_event(sent.event))) is None

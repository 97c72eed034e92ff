"""Stream goals and gift messages over GraphQL: what a host and a viewer see and may do."""

from __future__ import annotations

from litestar.testing import AsyncTestClient

from app.core.ids import encode_id
from app.users.tokens import issue_token
from tests.factories import make_gift, make_stream, make_user
from tests.graphql.helpers import gql

SET_GOAL = """
mutation ($stream: ID!, $gift: ID, $count: Int, $coins: Int, $title: String) {
  setStreamGoal(input: {streamId: $stream, giftId: $gift, count: $count, coins: $coins,
                        title: $title}) {
    liveStream { goal { kind target progress completed completedAt title gift { slug } } }
    errors { code field }
  }
}
"""
CLEAR_GOAL = """
mutation ($stream: ID!) {
  clearStreamGoal(input: {streamId: $stream}) { liveStream { goal { kind } } errors { code } }
}
"""
SEND = """
mutation ($stream: ID!, $gift: ID!, $quantity: Int!, $key: String!, $message: String) {
  sendGift(input: {streamId: $stream, giftId: $gift, quantity: $quantity, idempotencyKey: $key,
                   message: $message}) {
    giftEvent { id message completedGoal goal { progress completed } }
    errors { code field }
  }
}
"""
HIDE = """
mutation ($event: ID!) {
  hideGiftMessage(input: {giftEventId: $event}) { giftEvent { message } errors { code field } }
}
"""
STREAM = """
query ($id: ID!) {
  liveStream(id: $id) {
    goal { kind target progress completed completedAt }
    recentGifts { message sender { handle } }
  }
}
"""


async def test_a_host_sets_a_goal_that_viewers_gifts_complete(client: AsyncTestClient, settings):
    viewer, host = await make_user("vera", coins=50), await make_user("ana")
    stream = await make_stream(host)
    rose, heart = await make_gift("rose"), await make_gift("heart", coins=5)
    viewer_token, host_token = (
        issue_token(viewer.id, settings.auth),
        issue_token(host.id, settings.auth),
    )
    stream_id = encode_id("LiveStream", stream.id)
    base = {"stream": stream_id, "gift": encode_id("Gift", rose.id)}

    refused = (await gql(client, SET_GOAL, {"stream": stream_id, "coins": 5}, token=viewer_token))[
        "setStreamGoal"
    ]
    assert refused["errors"] == [{"code": "FORBIDDEN", "field": None}]
    invalid = (
        await gql(client, SET_GOAL, {"stream": stream_id, "gift": base["gift"]}, token=host_token)
    )["setStreamGoal"]
    assert invalid["errors"] == [{"code": "INVALID_INPUT", "field": "count"}]
    goal_set = (
        await gql(
            client,
            SET_GOAL,
            {**base, "count": 3, "title": "  Three   roses "},
            token=host_token,
        )
    )["setStreamGoal"]
    assert goal_set["errors"] == []
    assert goal_set["liveStream"]["goal"] == {
        "kind": "GIFT",
        "target": 3,
        "progress": 0,
        "completed": False,
        "completedAt": None,
        "title": "Three roses",
        "gift": {"slug": "rose"},
    }

    first = (await gql(client, SEND, {**base, "quantity": 2, "key": "a"}, token=viewer_token))[
        "sendGift"
    ]
    assert first["giftEvent"]["goal"] == {"progress": 2, "completed": False}
    other = {**base, "gift": encode_id("Gift", heart.id), "quantity": 1, "key": "b"}
    assert (await gql(client, SEND, other, token=viewer_token))["sendGift"]["giftEvent"][
        "goal"
    ] == {"progress": 2, "completed": False}
    last = (await gql(client, SEND, {**base, "quantity": 1, "key": "c"}, token=viewer_token))[
        "sendGift"
    ]["giftEvent"]
    assert (last["completedGoal"], last["goal"]) == (True, {"progress": 3, "completed": True})

    goal = (await gql(client, STREAM, {"id": stream_id}))["liveStream"]["goal"]
    assert (goal["progress"], goal["completed"]) == (3, True)
    assert goal["completedAt"] is not None

    cleared = (await gql(client, CLEAR_GOAL, {"stream": stream_id}, token=host_token))[
        "clearStreamGoal"
    ]
    assert cleared == {"liveStream": {"goal": None}, "errors": []}
    coins = (await gql(client, SET_GOAL, {"stream": stream_id, "coins": 100}, token=host_token))[
        "setStreamGoal"
    ]["liveStream"]["goal"]
    assert (coins["kind"], coins["target"], coins["gift"]) == ("COINS", 100, None)


async def test_a_message_is_sent_shown_and_hidden_by_the_host(client: AsyncTestClient, settings):
    viewer, host, other = (
        await make_user("vera", coins=10),
        await make_user("ana"),
        await make_user("olga"),
    )
    stream = await make_stream(host)
    rose = await make_gift("rose")
    tokens = {u.handle: issue_token(u.id, settings.auth) for u in (viewer, host, other)}
    stream_id = encode_id("LiveStream", stream.id)
    base = {"stream": stream_id, "gift": encode_id("Gift", rose.id), "quantity": 1}

    too_long = {**base, "key": "a", "message": "x" * 151}
    refused = (await gql(client, SEND, too_long, token=tokens["vera"]))["sendGift"]
    assert refused["errors"] == [{"code": "INVALID_INPUT", "field": "message"}]
    control = {**base, "key": "a", "message": "hi\u0000"}
    refused = (await gql(client, SEND, control, token=tokens["vera"]))["sendGift"]
    assert refused["errors"] == [{"code": "INVALID_INPUT", "field": "message"}]

    sent = (
        await gql(client, SEND, {**base, "key": "a", "message": " Hi Ana! "}, token=tokens["vera"])
    )["sendGift"]
    assert sent["errors"] == []
    assert sent["giftEvent"]["message"] == "Hi Ana!"
    reused = {**base, "key": "a", "message": "Hello Ana!"}
    refused = (await gql(client, SEND, reused, token=tokens["vera"]))["sendGift"]
    assert refused["errors"] == [{"code": "IDEMPOTENCY_KEY_REUSED", "field": "idempotencyKey"}]
    await gql(client, SEND, {**base, "key": "b"}, token=tokens["vera"])

    shown = (await gql(client, STREAM, {"id": stream_id}))["liveStream"]["recentGifts"]
    assert [g["message"] for g in shown] == [None, "Hi Ana!"]

    event = {"event": sent["giftEvent"]["id"]}
    for handle in ("olga", "vera"):
        hidden = (await gql(client, HIDE, event, token=tokens[handle]))["hideGiftMessage"]
        assert hidden["errors"] == [{"code": "FORBIDDEN", "field": "giftEventId"}]
    hidden = (await gql(client, HIDE, event, token=tokens["ana"]))["hideGiftMessage"]
    assert hidden == {"giftEvent": {"message": None}, "errors": []}
    shown = (await gql(client, STREAM, {"id": stream_id}))["liveStream"]["recentGifts"]
    assert [g["message"] for g in shown] == [None, None]

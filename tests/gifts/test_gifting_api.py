"""Gifting over HTTP: the scenario a viewer and a creator live through, and its edges."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from litestar.testing import AsyncTestClient

from app.core.clock import set_clock
from app.core.ids import encode_id
from app.core.money import Money
from app.integrity import verify_all
from app.purchases.codes import Platform
from app.purchases.packages import create_package
from app.seed import seed_catalog
from app.users.tokens import issue_token
from tests.factories import coins_of, diamonds_of, make_gift, make_stream, make_user, settled
from tests.graphql.helpers import gql
from tests.statements import count_statements

START = """
mutation Start($title: String!) {
  startLiveStream(input: {title: $title}) {
    liveStream { id title status host { handle } coinsReceived giftCount }
    errors { code field }
  }
}
"""
SEND = """
mutation Send($stream: ID!, $gift: ID!, $quantity: Int!, $key: String!) {
  sendGift(input: {streamId: $stream, giftId: $gift, quantity: $quantity, idempotencyKey: $key}) {
    giftEvent { id quantity coins diamonds comboCount gift { slug coinCost } sender { handle }
                stream { coinsReceived } }
    wallet { coins }
    errors { code field message }
  }
}
"""
STREAM = """
query Stream($id: ID!, $first: Int!) {
  liveStream(id: $id) {
    coinsReceived giftCount status
    topGifters { rank coins user { handle } }
    recentGifts(first: $first) {
      quantity gift { slug } sender { handle } stream { host { handle } }
    }
  }
}
"""
BUY = """
mutation ($package: ID!, $receipt: String!, $key: String!) {
  purchaseCoins(input: {packageId: $package, provider: SANDBOX, receipt: $receipt,
                        idempotencyKey: $key}) {
    purchase { status coins price { amount currencyCode } } wallet { coins } errors { code }
  }
}
"""
ME = """
query {
  me {
    wallet { coins diamonds
      entries(first: 10) { edges { node { kind amount currency balanceAfter } } } }
    currentLiveStream { title }
    spending { coinsSpentToday coinsSpentThisWeek coinsSpentThisMonth
               moneySpentThisMonth { amount currencyCode }
               limits { daily weekly monthly pendingChangeAppliesAt } }
  }
}
"""


def gift_ids(gifts: list[dict]) -> dict[str, str]:
    return {gift["slug"]: gift["id"] for gift in gifts}


async def test_viewer_sends_a_rose_combo_and_a_lion(client: AsyncTestClient, settings) -> None:
    await seed_catalog(settings.economy.creator_share)
    viewer, creator = await make_user("vera"), await make_user("ana")
    await create_package(platform=Platform.WEB, coins=35_000, price=Money(29_999, "USD"))
    viewer_token = issue_token(viewer.id, settings.auth)
    [package] = (await gql(client, "{ coinPackages(platform: WEB) { id coins } }"))["coinPackages"]
    bought = (
        await gql(
            client,
            BUY,
            {"package": package["id"], "receipt": "sandbox-receipt-1", "key": "buy-1"},
            token=viewer_token,
        )
    )["purchaseCoins"]
    assert bought["errors"] == []
    assert bought["wallet"]["coins"] == 35_000
    creator_token = issue_token(creator.id, settings.auth)
    catalog = (await gql(client, "{ gifts { id slug coinCost diamondValue } }"))["gifts"]
    assert [(g["slug"], g["coinCost"], g["diamondValue"]) for g in catalog][:2] == [
        ("rose", 1, 1),
        ("finger-heart", 5, 3),
    ]
    ids = gift_ids(catalog)

    started = (await gql(client, START, {"title": "Sunday live"}, token=creator_token))[
        "startLiveStream"
    ]
    assert started["errors"] == []
    stream_id = started["liveStream"]["id"]
    assert started["liveStream"]["status"] == "LIVE"

    combos = []
    for n in range(3):
        sent = (
            await gql(
                client,
                SEND,
                {"stream": stream_id, "gift": ids["rose"], "quantity": 5, "key": f"rose-{n}"},
                token=viewer_token,
            )
        )["sendGift"]
        assert sent["errors"] == []
        combos.append(sent["giftEvent"]["comboCount"])
    assert combos == [1, 2, 3]
    lion = (
        await gql(
            client,
            SEND,
            {"stream": stream_id, "gift": ids["lion"], "quantity": 1, "key": "lion"},
            token=viewer_token,
        )
    )["sendGift"]
    assert lion["errors"] == []
    assert lion["giftEvent"]["coins"] == 29_999
    assert lion["giftEvent"]["diamonds"] == 15_000
    assert lion["giftEvent"]["comboCount"] == 1
    assert lion["wallet"]["coins"] == 35_000 - 15 - 29_999
    assert lion["giftEvent"]["stream"]["coinsReceived"] == 15 + 29_999

    stream = (await gql(client, STREAM, {"id": stream_id, "first": 10}))["liveStream"]
    assert (stream["coinsReceived"], stream["giftCount"]) == (30_014, 16)
    assert stream["topGifters"] == [{"rank": 1, "coins": 30_014, "user": {"handle": "vera"}}]
    assert [(g["quantity"], g["gift"]["slug"]) for g in stream["recentGifts"]] == [
        (1, "lion"),
        (5, "rose"),
        (5, "rose"),
        (5, "rose"),
    ]

    me = (await gql(client, ME, token=creator_token))["me"]
    assert me["wallet"]["diamonds"] == 15 + 15_000  # exact at once, settled or not
    assert me["currentLiveStream"] == {"title": "Sunday live"}
    await settled()  # received gifts enter the ledger's entries once settled (milliseconds)
    me = (await gql(client, ME, token=creator_token))["me"]
    # One entry per settlement batch: the four gifts in one to four entries, never lost.
    entries = [e["node"] for e in me["wallet"]["entries"]["edges"]]
    assert 1 <= len(entries) <= 4
    assert {e["kind"] for e in entries} == {"GIFT_RECEIVED"}
    assert sum(e["amount"] for e in entries) == entries[0]["balanceAfter"] == 15 + 15_000
    me = (await gql(client, ME, token=viewer_token))["me"]
    assert me["wallet"]["coins"] == 4_986
    assert [e["node"]["amount"] for e in me["wallet"]["entries"]["edges"]] == [
        -29_999,
        -5,
        -5,
        -5,
        35_000,
    ]
    assert [e["node"]["kind"] for e in me["wallet"]["entries"]["edges"]][-1] == "PURCHASE"
    assert me["spending"]["coinsSpentToday"] == 30_014
    assert me["spending"]["moneySpentThisMonth"] == [{"amount": "299.99", "currencyCode": "USD"}]
    assert await coins_of(viewer.id) == 4_986
    assert await diamonds_of(creator.id) == 15_015
    assert (await verify_all()).ok

    ended = (
        await gql(
            client,
            "mutation($id: ID!) { endLiveStream(input: {streamId: $id}) "
            "{ liveStream { status endedAt } errors { code } } }",
            {"id": stream_id},
            token=creator_token,
        )
    )["endLiveStream"]
    assert ended["liveStream"]["status"] == "ENDED"
    after = (
        await gql(
            client,
            SEND,
            {"stream": stream_id, "gift": ids["rose"], "quantity": 1, "key": "late"},
            token=viewer_token,
        )
    )["sendGift"]
    assert after["giftEvent"] is None
    assert after["wallet"] is None
    assert after["errors"][0]["code"] == "STREAM_NOT_LIVE"
    assert await coins_of(viewer.id) == 4_986


async def test_send_errors_come_back_in_the_payload(client: AsyncTestClient, settings) -> None:
    viewer = await make_user(coins=10)
    stream = await make_stream()
    rose = await make_gift("rose")
    token = issue_token(viewer.id, settings.auth)
    variables = {
        "stream": encode_id("LiveStream", stream.id),
        "gift": encode_id("Gift", rose.id),
        "quantity": 0,
        "key": "k",
    }
    sent = (await gql(client, SEND, variables, token=token))["sendGift"]
    assert [(e["code"], e["field"]) for e in sent["errors"]] == [("INVALID_INPUT", "quantity")]
    sent = (await gql(client, SEND, {**variables, "quantity": 1, "gift": "nope"}, token=token))[
        "sendGift"
    ]
    assert [(e["code"], e["field"]) for e in sent["errors"]] == [("GIFT_UNAVAILABLE", "giftId")]
    sent = (await gql(client, SEND, {**variables, "quantity": 11}, token=token))["sendGift"]
    assert [e["code"] for e in sent["errors"]] == ["INSUFFICIENT_FUNDS"]
    sent = (await gql(client, SEND, {**variables, "quantity": 1}))["sendGift"]
    assert [e["code"] for e in sent["errors"]] == ["UNAUTHENTICATED"]
    assert await coins_of(viewer.id) == 10


async def test_going_live_is_for_adults_and_once_at_a_time(client: AsyncTestClient, settings):
    adult, minor, other = await make_user(), await make_user(age=16), await make_user()
    token = issue_token(adult.id, settings.auth)
    first = (await gql(client, START, {"title": "one"}, token=token))["startLiveStream"]
    assert first["errors"] == []
    again = (await gql(client, START, {"title": "two"}, token=token))["startLiveStream"]
    assert [e["code"] for e in again["errors"]] == ["ALREADY_LIVE"]
    assert again["liveStream"] is None
    young = (await gql(client, START, {"title": "hi"}, token=issue_token(minor.id, settings.auth)))[
        "startLiveStream"
    ]
    assert [e["code"] for e in young["errors"]] == ["AGE_RESTRICTED"]
    not_host = (
        await gql(
            client,
            "mutation($id: ID!) { endLiveStream(input: {streamId: $id}) { errors { code } } }",
            {"id": first["liveStream"]["id"]},
            token=issue_token(other.id, settings.auth),
        )
    )["endLiveStream"]
    assert [e["code"] for e in not_host["errors"]] == ["FORBIDDEN"]


async def test_live_streams_most_coins_first_with_pages(client: AsyncTestClient) -> None:
    viewer = await make_user(coins=100)
    streams = [await make_stream() for _ in range(3)]
    gift = await make_gift("rose")
    from tests.factories import send

    await send(viewer, streams[1], gift, 5)
    await send(viewer, streams[2], gift, 2)
    query = """query($after: String) { liveStreams(first: 2, after: $after) {
        edges { node { id coinsReceived } } pageInfo { hasNextPage endCursor } } }"""
    page = (await gql(client, query))["liveStreams"]
    assert [e["node"]["coinsReceived"] for e in page["edges"]] == [5, 2]
    assert page["pageInfo"]["hasNextPage"]
    rest = (await gql(client, query, {"after": page["pageInfo"]["endCursor"]}))["liveStreams"]
    assert [e["node"]["id"] for e in rest["edges"]] == [encode_id("LiveStream", streams[0].id)]
    assert not rest["pageInfo"]["hasNextPage"]


async def test_leaderboard_ties_and_anonymous_gifters(client: AsyncTestClient, settings) -> None:
    first, second, shy = [await make_user(h, coins=100) for h in ("first", "second", "shy")]
    stream = await make_stream()
    rose, heart = await make_gift("rose"), await make_gift("heart", coins=5)
    from tests.factories import send

    await send(first, stream, heart)  # 5
    await send(shy, stream, rose, 9)  # 9
    await send(second, stream, rose, 5)  # 5, reached after first
    shy_token = issue_token(shy.id, settings.auth)
    hidden = (
        await gql(
            client,
            "mutation { setLeaderboardVisibility(input: {showOnLeaderboards: false}) "
            "{ user { showOnLeaderboards } errors { code } } }",
            token=shy_token,
        )
    )["setLeaderboardVisibility"]
    assert hidden == {"user": {"showOnLeaderboards": False}, "errors": []}

    query = STREAM
    variables = {"id": encode_id("LiveStream", stream.id), "first": 3}
    board = (await gql(client, query, variables))["liveStream"]
    assert board["topGifters"] == [
        {"rank": 1, "coins": 9, "user": None},
        {"rank": 2, "coins": 5, "user": {"handle": "first"}},
        {"rank": 3, "coins": 5, "user": {"handle": "second"}},
    ]
    assert [g["sender"] for g in board["recentGifts"]] == [
        {"handle": "second"},
        None,
        {"handle": "first"},
    ]
    # The shy gifter still sees themselves.
    own = (await gql(client, query, variables, token=shy_token))["liveStream"]
    assert own["topGifters"][0]["user"] == {"handle": "shy"}


# The plan of a stream page: the stream and its still-queued totals, its gifters, its events,
# their gift versions, and users (gifters, senders, host) in at most three DataLoader waves.
# How many of those waves merge depends on how the database's answers interleave on the
# event loop, never on length.
STATEMENT_BUDGET = 8


async def test_stream_page_runs_a_bounded_number_of_statements(
    client: AsyncTestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    host = await make_user()
    stream = await make_stream(host)
    gifts = [await make_gift(coins=n + 1) for n in range(4)]
    viewers = [await make_user(coins=1_000) for _ in range(15)]
    from tests.factories import send

    for n in range(45):
        await send(viewers[n % 15], stream, gifts[n % 4], 1 + n % 3)
    await settled()  # what the app's settler would have done by now
    # ...and the fraud rules after the answers (on the app's own loop, so polled from here).
    while not client.app.state.after_response.idle:  # noqa: ASYNC110
        await asyncio.sleep(0.01)

    statements = count_statements(monkeypatch)

    query = """query($id: ID!, $first: Int!) { liveStream(id: $id) {
        topGifters { user { handle } }
        recentGifts(first: $first) { gift { slug } sender { handle } stream { host { handle } } }
    } }"""
    counts = []
    for first in (1, 45):
        statements.clear()
        variables = {"id": encode_id("LiveStream", stream.id), "first": first}
        data = await gql(client, query, variables)
        assert len(data["liveStream"]["recentGifts"]) == first
        assert len(data["liveStream"]["topGifters"]) == 10
        counts.append(len(statements))
    assert counts[0] == counts[1] <= STATEMENT_BUDGET, counts


async def test_spending_limits_over_the_api(client: AsyncTestClient, settings) -> None:
    now = datetime(2026, 11, 25, 12, tzinfo=UTC)
    set_clock(lambda: now)
    viewer = await make_user(coins=100)
    token = issue_token(viewer.id, settings.auth)
    stream = await make_stream()
    rose = await make_gift("rose")
    mutation = """mutation($daily: Int, $weekly: Int) {
        setSpendingLimits(input: {daily: $daily, weekly: $weekly}) {
            limits { daily weekly monthly pendingChangeAppliesAt } errors { code field } } }"""
    set_low = (await gql(client, mutation, {"daily": 3}, token=token))["setSpendingLimits"]
    assert set_low == {
        "limits": {"daily": 3, "weekly": None, "monthly": None, "pendingChangeAppliesAt": None},
        "errors": [],
    }
    variables = {
        "stream": encode_id("LiveStream", stream.id),
        "gift": encode_id("Gift", rose.id),
        "quantity": 4,
        "key": "k",
    }
    sent = (await gql(client, SEND, variables, token=token))["sendGift"]
    assert [e["code"] for e in sent["errors"]] == ["SPENDING_LIMIT_REACHED"]
    sent = (await gql(client, SEND, {**variables, "quantity": 3}, token=token))["sendGift"]
    assert sent["errors"] == []

    raised = (await gql(client, mutation, {"daily": 50}, token=token))["setSpendingLimits"]
    assert raised["limits"]["daily"] == 3
    assert raised["limits"]["pendingChangeAppliesAt"].startswith("2026-11-26T12:00:00")
    bad = (await gql(client, mutation, {"weekly": -5}, token=token))["setSpendingLimits"]
    assert bad == {"limits": None, "errors": [{"code": "INVALID_INPUT", "field": "weekly"}]}

    spending = (await gql(client, ME, token=token))["me"]["spending"]
    assert spending["coinsSpentToday"] == spending["coinsSpentThisMonth"] == 3
    now += timedelta(days=1)
    spending = (await gql(client, ME, token=token))["me"]["spending"]
    assert (spending["coinsSpentToday"], spending["coinsSpentThisWeek"]) == (0, 3)
    assert spending["limits"]["daily"] == 50
    other = await make_user()
    shown = await gql(
        client,
        "{ me { spending { coinsSpentToday } } }",
        token=issue_token(other.id, settings.auth),
    )
    assert shown["me"]["spending"]["coinsSpentToday"] == 0

"""Payouts as a creator's app sees them: earnings, requests, cancels and the history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from litestar.testing import AsyncTestClient

from app.core.clock import set_clock
from app.main import create_app
from app.payouts import queries as payout_queries
from app.payouts import service as payouts
from app.payouts.provider import SandboxPayoutProvider
from app.settings import PayoutSettings
from app.users.tokens import issue_token
from tests.factories import diamonds_of, give_diamonds, make_user, staff
from tests.graphql.helpers import gql, gql_response

EARNINGS = """
{ me { earnings { diamonds availableDiamonds pendingDiamonds
                  cashValue { amount currencyCode } minimumPayoutDiamonds } } }
"""
REQUEST = """
mutation Request($diamonds: Int!, $key: String!) {
  requestPayout(input: {diamonds: $diamonds, idempotencyKey: $key}) {
    payout { id diamonds amount { amount currencyCode } status requestedAt decidedAt }
    errors { code message field }
  }
}
"""
CANCEL = """
mutation Cancel($id: ID!) {
  cancelPayout(input: {payoutId: $id}) {
    payout { id status decidedAt }
    errors { code message field }
  }
}
"""
HISTORY = """
query History($first: Int!, $after: String) {
  me { payouts(first: $first, after: $after) {
    edges { cursor node { id diamonds status rejectionReason } }
    pageInfo { hasNextPage endCursor }
  } }
}
"""


async def test_request_shows_in_earnings_and_can_be_cancelled(
    client: AsyncTestClient, settings
) -> None:
    alice = await make_user("alice")
    await give_diamonds(alice.id, 6_001)
    token = issue_token(alice.id, settings.auth)

    before = (await gql(client, EARNINGS, token=token))["me"]["earnings"]
    made = (await gql(client, REQUEST, {"diamonds": 4_001, "key": "k1"}, token=token))[
        "requestPayout"
    ]
    replay = (await gql(client, REQUEST, {"diamonds": 4_001, "key": "k1"}, token=token))[
        "requestPayout"
    ]
    during = (await gql(client, EARNINGS, token=token))["me"]["earnings"]

    assert before == {
        "diamonds": 6_001,
        "availableDiamonds": 6_001,
        "pendingDiamonds": 0,
        "cashValue": {"amount": "30.00", "currencyCode": "USD"},  # 30.005 rounded down
        "minimumPayoutDiamonds": 2_000,
    }
    assert made["errors"] == []
    payout = made["payout"]
    assert payout["diamonds"] == 4_001
    assert payout["amount"] == {"amount": "20.00", "currencyCode": "USD"}  # 20.005 rounded down
    assert payout["status"] == "PENDING"
    assert payout["decidedAt"] is None
    assert replay == made
    assert during == {
        "diamonds": 6_001,
        "availableDiamonds": 2_000,
        "pendingDiamonds": 4_001,
        "cashValue": {"amount": "10.00", "currencyCode": "USD"},
        "minimumPayoutDiamonds": 2_000,
    }

    cancelled = (await gql(client, CANCEL, {"id": payout["id"]}, token=token))["cancelPayout"]

    assert cancelled["errors"] == []
    assert cancelled["payout"]["status"] == "CANCELLED"
    assert cancelled["payout"]["decidedAt"] is not None
    after = (await gql(client, EARNINGS, token=token))["me"]["earnings"]
    assert after["availableDiamonds"] == 6_001
    assert after["pendingDiamonds"] == 0


async def test_refusals_come_back_as_errors_with_the_field(
    client: AsyncTestClient, settings
) -> None:
    alice = await make_user("alice")
    await give_diamonds(alice.id, 3_000)
    token = issue_token(alice.id, settings.auth)

    async def refused(diamonds: int, key: str = "k") -> dict:
        body = (await gql(client, REQUEST, {"diamonds": diamonds, "key": key}, token=token))[
            "requestPayout"
        ]
        assert body["payout"] is None
        [error] = body["errors"]
        return {"code": error["code"], "field": error["field"]}

    assert await refused(1_999) == {"code": "BELOW_PAYOUT_MINIMUM", "field": "diamonds"}
    assert await refused(3_001) == {"code": "INSUFFICIENT_FUNDS", "field": None}
    assert await refused(200_001) == {"code": "PAYOUT_LIMIT_REACHED", "field": "diamonds"}
    assert await refused(2_000, key="") == {"code": "INVALID_INPUT", "field": "idempotencyKey"}
    assert await diamonds_of(alice.id) == 3_000

    anonymous = (await gql(client, REQUEST, {"diamonds": 2_000, "key": "k"}))["requestPayout"]
    assert anonymous["errors"][0]["code"] == "UNAUTHENTICATED"
    bad_id = (await gql(client, CANCEL, {"id": "nonsense"}, token=token))["cancelPayout"]
    assert bad_id["errors"][0]["field"] == "payoutId"


async def test_cancel_after_payment_and_of_others_payouts_is_refused(
    client: AsyncTestClient, settings
) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    await give_diamonds(alice.id, 10_000)
    alice_token = issue_token(alice.id, settings.auth)
    first = (await gql(client, REQUEST, {"diamonds": 2_000, "key": "a"}, token=alice_token))[
        "requestPayout"
    ]["payout"]
    second = (await gql(client, REQUEST, {"diamonds": 2_000, "key": "b"}, token=alice_token))[
        "requestPayout"
    ]["payout"]
    record = (await payout_queries.list_payouts(creator_id=alice.id, limit=1, oldest_first=True))[0]
    await payouts.approve_payout(record.id, staff("fiona"), provider=SandboxPayoutProvider())

    paid = (await gql(client, CANCEL, {"id": first["id"]}, token=alice_token))["cancelPayout"]
    foreign = (
        await gql(client, CANCEL, {"id": second["id"]}, token=issue_token(bob.id, settings.auth))
    )["cancelPayout"]

    assert paid == {
        "payout": None,
        "errors": [
            {
                "code": "PAYOUT_NOT_CANCELLABLE",
                "message": "This payout is paid and can no longer be cancelled.",
                "field": "payoutId",
            }
        ],
    }
    assert foreign["errors"][0]["code"] == "NOT_FOUND"
    assert await diamonds_of(alice.id) == 6_000


async def test_payout_history_pages_newest_first_and_is_private(
    client: AsyncTestClient, settings
) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    await give_diamonds(alice.id, 20_000)
    token = issue_token(alice.id, settings.auth)
    ids = [
        (await gql(client, REQUEST, {"diamonds": 2_000 + i, "key": f"k{i}"}, token=token))[
            "requestPayout"
        ]["payout"]["id"]
        for i in range(5)
    ]
    record = (await payout_queries.list_payouts(creator_id=alice.id, limit=1))[0]
    await payouts.reject_payout(record.id, staff("fiona"), "Verify your identity first.")

    seen, after = [], None
    while True:
        page = (await gql(client, HISTORY, {"first": 2, "after": after}, token=token))["me"][
            "payouts"
        ]
        seen += [edge["node"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]

    assert [node["id"] for node in seen] == list(reversed(ids))
    assert [node["diamonds"] for node in seen] == [2_004, 2_003, 2_002, 2_001, 2_000]
    assert seen[0]["status"] == "REJECTED"
    assert seen[0]["rejectionReason"] == "Verify your identity first."
    assert seen[1]["rejectionReason"] is None
    other = await gql(
        client,
        "{ me { earnings { diamonds } payouts { edges { cursor } } } }",
        token=issue_token(bob.id, settings.auth),
    )
    assert other["me"]["earnings"]["diamonds"] == 0
    assert other["me"]["payouts"]["edges"] == []
    too_many = await gql_response(client, HISTORY, {"first": 101}, token=token)
    assert too_many["errors"][0]["extensions"]["code"] == "INVALID_INPUT"


async def test_auto_approval_setting_pays_a_small_request_at_once(db) -> None:
    set_clock(lambda: datetime.now(UTC) - timedelta(days=60))
    alice = await make_user("alice")
    set_clock(None)
    await give_diamonds(alice.id, 10_000)
    auto = db.settings(payouts=PayoutSettings(auto_approve=True, auto_approve_max_diamonds=3_000))

    async with AsyncTestClient(create_app(auto)) as client:
        token = issue_token(alice.id, auto.auth)
        small = await gql(client, REQUEST, {"diamonds": 3_000, "key": "s"}, token=token)
        large = await gql(client, REQUEST, {"diamonds": 3_001, "key": "l"}, token=token)
        earnings = (await gql(client, EARNINGS, token=token))["me"]["earnings"]

    assert small["requestPayout"]["payout"]["status"] == "PAID"
    assert large["requestPayout"]["payout"]["status"] == "PENDING"
    assert earnings["availableDiamonds"] == 10_000 - 3_000 - 3_001
    assert earnings["pendingDiamonds"] == 3_001


async def test_without_a_payout_provider_auto_approval_leaves_requests_pending(db) -> None:
    set_clock(lambda: datetime.now(UTC) - timedelta(days=60))
    alice = await make_user("alice")
    set_clock(None)
    await give_diamonds(alice.id, 10_000)
    no_provider = db.settings(payouts=PayoutSettings(auto_approve=True), sandbox_payments=False)

    async with AsyncTestClient(create_app(no_provider)) as client:
        token = issue_token(alice.id, no_provider.auth)
        made = await gql(client, REQUEST, {"diamonds": 2_000, "key": "s"}, token=token)

    assert made["requestPayout"]["errors"] == []
    assert made["requestPayout"]["payout"]["status"] == "PENDING"

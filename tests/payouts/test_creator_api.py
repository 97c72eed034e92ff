"""What a creator sees with the sandbox provider (development): onboarding that verifies at
once, the next possible payout under the daily cap, and their monthly statement."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from litestar.testing import AsyncTestClient

from app.core.clock import set_clock
from app.payouts.statements import creator_statement
from app.settings import EconomySettings, PayoutSettings, Settings
from app.users.tokens import issue_token
from tests.conftest import Database
from tests.factories import give_diamonds, make_stream, make_user
from tests.graphql.helpers import gql, gql_response
from tests.payouts.fake_stripe import connect_event
from tests.payouts.test_statements import month_of_gifting

NOON = datetime(2026, 11, 26, 12, tzinfo=UTC)
ONBOARD = """
mutation { startPayoutOnboarding {
  url payoutAccount { status detailsSubmitted payoutsEnabled } errors { code field }
} }
"""
EARNINGS = """
{ me { earnings { availableDiamonds nextPayoutAvailableAt nextPayoutDiamonds
                  payoutAccount { status payoutsEnabled } } } }
"""
REQUEST = """
mutation Request($diamonds: Int!, $key: String!) {
  requestPayout(input: {diamonds: $diamonds, idempotencyKey: $key}) {
    payout { id status } errors { code }
  }
}
"""
STATEMENT = """
query Statement($month: String!) {
  me { statement(month: $month) {
    month openingDiamonds closingDiamonds giftDiamonds heldForPayoutsDiamonds
    gifts { streamId streamTitle giftName sends quantity diamonds }
    giftsByDay { day giftName sends quantity diamonds }
    movements { at kind diamonds description }
    payouts { diamonds amount { amount currencyCode } status }
    closingCashValue { amount currencyCode }
  } }
}
"""
OTHERS_STATEMENT = """
query Other($id: ID!) { liveStream(id: $id) { host { statement(month: "2026-11") { month } } } }
"""


@pytest.fixture
def settings(db: Database) -> Settings:
    return db.settings(economy=EconomySettings(maximum_daily_payout_diamonds=5_000))


async def test_sandbox_creators_are_verified_and_see_their_next_payout(
    client: AsyncTestClient, settings: Settings
) -> None:
    set_clock(lambda: NOON)
    creator = await make_user("ana")
    await give_diamonds(creator.id, 12_000)
    token = issue_token(creator.id, settings.auth)

    onboarding = (await gql(client, ONBOARD, token=token))["startPayoutOnboarding"]
    before = (await gql(client, EARNINGS, token=token))["me"]["earnings"]
    await gql(client, REQUEST, {"diamonds": 4_000, "key": "a"}, token=token)
    capped = (await gql(client, EARNINGS, token=token))["me"]["earnings"]
    over = await gql(client, REQUEST, {"diamonds": 2_000, "key": "b"}, token=token)
    set_clock(lambda: datetime(2026, 11, 27, 0, 0, tzinfo=UTC))
    tomorrow = (await gql(client, EARNINGS, token=token))["me"]["earnings"]

    assert onboarding == {
        "url": settings.payouts.stripe_onboarding_return_url,
        "payoutAccount": {"status": "VERIFIED", "detailsSubmitted": True, "payoutsEnabled": True},
        "errors": [],
    }
    assert before["payoutAccount"] == {"status": "VERIFIED", "payoutsEnabled": True}
    assert before["nextPayoutAvailableAt"] == "2026-11-26T12:00:00+00:00"
    assert before["nextPayoutDiamonds"] == 5_000  # the daily cap, not all 12,000
    # 1,000 left today is below the 2,000 minimum: the next payout is tomorrow's.
    assert capped["nextPayoutAvailableAt"] == "2026-11-27T00:00:00+00:00"
    assert capped["nextPayoutDiamonds"] == 5_000
    assert over["requestPayout"]["errors"] == [{"code": "PAYOUT_LIMIT_REACHED"}]
    assert tomorrow["nextPayoutAvailableAt"] == "2026-11-27T00:00:00+00:00"
    assert tomorrow["nextPayoutDiamonds"] == 5_000


async def test_too_few_diamonds_means_no_next_payout(
    client: AsyncTestClient, settings: Settings
) -> None:
    creator = await make_user("ana")
    await give_diamonds(creator.id, 1_999)
    token = issue_token(creator.id, settings.auth)

    earnings = (await gql(client, EARNINGS, token=token))["me"]["earnings"]

    assert earnings["nextPayoutAvailableAt"] is None
    assert earnings["nextPayoutDiamonds"] == 0


async def test_the_statement_is_the_admins_and_adds_up_to_the_ledger(
    client: AsyncTestClient, db: Database
) -> None:
    settings = db.settings()  # the default cap: the month's payouts fit in a day
    creator, second, third = await month_of_gifting(settings)
    set_clock(lambda: datetime.now(UTC))  # tokens are checked against the wall clock
    token = issue_token(creator.id, settings.auth)

    november = (await gql(client, STATEMENT, {"month": "2026-11"}, token=token))["me"]["statement"]
    october = (await gql(client, STATEMENT, {"month": "2026-10"}, token=token))["me"]["statement"]
    admins = await creator_statement(creator, "2026-11", settings.economy)

    assert november["openingDiamonds"] == october["closingDiamonds"] == admins.opening_diamonds
    assert november["closingDiamonds"] == admins.closing_diamonds
    movements = sum(line["diamonds"] for line in november["movements"])
    gifts = sum(line["diamonds"] for line in november["gifts"])
    assert gifts == november["giftDiamonds"] == admins.gift_diamonds
    assert november["openingDiamonds"] + gifts + movements == november["closingDiamonds"]
    assert [
        (g["streamTitle"], g["giftName"], g["sends"], g["quantity"]) for g in november["gifts"]
    ] == [(g.stream_title, g.gift_name, g.sends, g.quantity) for g in admins.gifts]
    assert {g["streamTitle"] for g in november["gifts"]} == {second.title, third.title}
    # November's gifts all reached her on the 10th: one line per gift that day.
    assert [
        (d["day"], d["giftName"], d["sends"], d["quantity"]) for d in november["giftsByDay"]
    ] == [
        ("2026-11-10", "Castle", 2, 2),
        ("2026-11-10", "Rose", 2, 15),
    ]
    assert sum(d["diamonds"] for d in november["giftsByDay"]) == gifts
    assert [(p["diamonds"], p["status"]) for p in november["payouts"]] == [
        (5_000, "PAID"),
        (2_500, "REJECTED"),
    ]
    assert november["payouts"][0]["amount"] == {"amount": "25.00", "currencyCode": "USD"}
    kinds = [line["kind"] for line in november["movements"]]
    assert kinds == ["PAYOUT_HOLD", "PAYOUT_HOLD", "PAYOUT_RELEASED"]
    assert november["heldForPayoutsDiamonds"] == 7_500
    # The closing balance is what the ledger holds now (nothing happened after November).
    from tests.factories import diamonds_of

    assert november["closingDiamonds"] == await diamonds_of(creator.id)


async def test_the_statement_is_the_owners_only_and_needs_a_real_month(
    client: AsyncTestClient, settings: Settings
) -> None:
    from app.core.ids import encode_id

    ana, bob = await make_user("ana"), await make_user("bob")
    token = issue_token(bob.id, settings.auth)

    stream = await make_stream(ana)
    others = await gql(
        client, OTHERS_STATEMENT, {"id": encode_id("LiveStream", stream.id)}, token=token
    )
    bad = await gql_response(client, STATEMENT, {"month": "2026-13"}, token=token)
    spaced = await gql_response(client, STATEMENT, {"month": " 2026-11"}, token=token)

    assert others["liveStream"] == {"host": {"statement": None}}
    for body in (bad, spaced):
        [error] = body["errors"]
        assert error["extensions"] == {"code": "INVALID_INPUT", "field": "month"}


async def test_connect_webhooks_are_refused_while_unconfigured(
    client: AsyncTestClient, settings: Settings
) -> None:
    body, headers = connect_event("account.updated", {"id": "acct_1"}, account="acct_1")

    response = await client.post("/webhooks/stripe-connect", content=body, headers=headers)

    assert response.status_code == 400


async def test_stripe_without_a_key_is_a_clear_error_not_a_crash(db: Database) -> None:
    from app.main import create_app

    settings = db.settings(payouts=PayoutSettings(provider="stripe"))
    creator = await make_user("ana")
    token = issue_token(creator.id, settings.auth)
    async with AsyncTestClient(create_app(settings)) as client:
        onboarding = (await gql(client, ONBOARD, token=token))["startPayoutOnboarding"]

    assert onboarding["url"] is None
    assert [e["code"] for e in onboarding["errors"]] == ["SERVICE_UNAVAILABLE"]

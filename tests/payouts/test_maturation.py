"""Gift diamonds mature before they can be paid out: shown as maturing, refused, then paid."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from litestar.testing import AsyncTestClient

from app.core.clock import set_clock
from app.core.errors import DomainError, ErrorCode
from app.integrity import verify_all
from app.payouts import maturation
from app.payouts import records as payout_records
from app.payouts import service as payouts
from app.payouts.codes import PayoutStatus
from app.settings import EconomySettings, Settings
from app.users.tokens import issue_token
from tests.factories import diamonds_of, give_diamonds, make_gift, make_stream, make_user, send
from tests.graphql.helpers import gql

pytestmark = pytest.mark.usefixtures("db")

T0 = datetime(2026, 11, 1, 12, tzinfo=UTC)
ECONOMY = EconomySettings(minimum_payout_diamonds=100)  # 14 days by default
MATURED = T0 + timedelta(days=14, seconds=1)


async def gifted_creator(old_diamonds: int, gift_coins: int, at: datetime = T0):
    """A creator with ``old_diamonds`` from before the window and a gift of ``gift_coins``
    (half as diamonds) received at ``at``."""
    set_clock(lambda: at)
    creator, fan = await make_user(), await make_user(coins=gift_coins)
    if old_diamonds:
        await give_diamonds(creator.id, old_diamonds)
    gift = await make_gift(coins=gift_coins)
    await send(fan, await make_stream(creator), gift)
    await diamonds_of(creator.id)  # settled
    return creator


async def earnings(creator_id: int, economy: EconomySettings = ECONOMY):
    window = (await maturation.maturing([creator_id], economy.earnings_maturation_days))[creator_id]
    return payout_records.earnings_of(await diamonds_of(creator_id), 0, economy, window)


async def test_gift_diamonds_mature_for_fourteen_days_before_they_can_be_requested() -> None:
    creator = await gifted_creator(old_diamonds=1_000, gift_coins=6_000)

    shown = await earnings(creator.id)
    assert (shown.available_diamonds, shown.maturing_diamonds, shown.diamonds) == (
        1_000,
        3_000,
        4_000,
    )
    assert shown.next_maturity_at == T0 + timedelta(days=14)
    with pytest.raises(DomainError) as refused:
        await payouts.request_payout(creator.id, 1_001, "too-soon", economy=ECONOMY)
    assert refused.value.code is ErrorCode.EARNINGS_NOT_MATURED
    assert refused.value.field == "diamonds"
    assert await diamonds_of(creator.id) == 4_000  # nothing held

    first = await payouts.request_payout(creator.id, 1_000, "matured", economy=ECONOMY)
    assert first.status is PayoutStatus.PENDING

    set_clock(lambda: MATURED)
    later = await earnings(creator.id)
    assert (later.available_diamonds, later.maturing_diamonds, later.next_maturity_at) == (
        3_000,
        0,
        None,
    )
    second = await payouts.request_payout(creator.id, 3_000, "later", economy=ECONOMY)
    assert second.diamonds == 3_000
    assert (await verify_all()).ok


async def test_more_than_the_balance_is_still_insufficient_funds() -> None:
    creator = await gifted_creator(old_diamonds=0, gift_coins=400)

    with pytest.raises(DomainError) as refused:
        await payouts.request_payout(creator.id, 201, "more", economy=ECONOMY)

    assert refused.value.code is ErrorCode.INSUFFICIENT_FUNDS


async def test_no_window_pays_at_once_and_a_reversed_balance_caps_what_matures() -> None:
    creator = await gifted_creator(old_diamonds=0, gift_coins=400)
    at_once = EconomySettings(minimum_payout_diamonds=100, earnings_maturation_days=0)

    assert (await earnings(creator.id, at_once)).available_diamonds == 200
    # Maturing never exceeds what the creator holds (a reversal already took it back).
    assert maturation.Maturing(200, T0).of(150) == 150
    assert maturation.Maturing(200, T0).of(-50) == 0
    payout = await payouts.request_payout(creator.id, 200, "now", economy=at_once)
    assert payout.status is PayoutStatus.PENDING


async def test_the_app_shows_the_window_and_the_maturing_diamonds(
    client: AsyncTestClient, settings: Settings
) -> None:
    # Now, frozen: the API checks its tokens' expiry against the real time.
    now = datetime.now(UTC).replace(microsecond=0)
    creator = await gifted_creator(old_diamonds=2_500, gift_coins=6_000, at=now)
    token = issue_token(creator.id, settings.auth)

    rates = (await gql(client, "{ economy { earningsMaturationDays } }"))["economy"]
    shown = (
        await gql(
            client,
            "{ me { earnings { diamonds availableDiamonds maturingDiamonds pendingDiamonds"
            " nextMaturityAt cashValue { amount } } } }",
            token=token,
        )
    )["me"]["earnings"]
    refused = (
        await gql(
            client,
            'mutation { requestPayout(input: {diamonds: 2501, idempotencyKey: "k"}) '
            "{ payout { id } errors { code field } } }",
            token=token,
        )
    )["requestPayout"]

    assert rates == {"earningsMaturationDays": 14}
    assert shown["diamonds"] == 5_500
    assert (shown["availableDiamonds"], shown["maturingDiamonds"], shown["pendingDiamonds"]) == (
        2_500,
        3_000,
        0,
    )
    assert shown["cashValue"]["amount"] in ("12.50", "12.5")  # of the 2,500 available only
    assert datetime.fromisoformat(shown["nextMaturityAt"]) == now + timedelta(days=14)
    assert refused == {
        "payout": None,
        "errors": [{"code": "EARNINGS_NOT_MATURED", "field": "diamonds"}],
    }

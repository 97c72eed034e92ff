"""Partner offers: a unique code per redemption, paid in coins, under the spending rules."""

from __future__ import annotations

import asyncio

import pytest
from litestar.testing import AsyncTestClient

from app.core.database import current_engine, is_sqlite, open_pool
from app.core.errors import DomainError, ErrorCode
from app.ledger import account_balance, system_account_id
from app.ledger.codes import AccountCode
from app.ledger.tables import Transfer
from app.offers import catalog as offers
from app.offers import redeeming
from app.offers.tables import OfferCode, Redemption
from app.settings import SpendingSettings
from app.spending import service as spending
from app.spending.service import Limits
from app.users.tokens import issue_token
from tests.factories import coins_of, make_user
from tests.graphql.helpers import gql

PLATFORM = SpendingSettings()


async def make_offer(
    codes: int = 3, *, coins: int = 100, active: bool = True, per_user: int = 1
) -> int:
    offer_id = await offers.create_offer(
        brand="Bean There",
        title="A free coffee",
        coin_cost=coins,
        active=active,
        per_user_limit=per_user,
    )
    await offers.add_codes(offer_id, [f"BEAN-{offer_id}-{n}" for n in range(codes)])
    return offer_id


async def redeem(user_id: int, offer_id: int, key: str = "k") -> redeeming.Redeemed:
    return await redeeming.redeem_offer(
        user_id=user_id, offer_id=offer_id, idempotency_key=key, platform=PLATFORM
    )


async def test_redeeming_pays_coins_and_hands_out_one_code(db) -> None:
    viewer = await make_user(coins=250)
    offer_id = await make_offer(per_user=2)

    first = await redeem(viewer.id, offer_id, "a")
    again = await redeem(viewer.id, offer_id, "a")
    second = await redeem(viewer.id, offer_id, "b")

    assert again.replayed
    assert again.redemption.code == first.redemption.code
    assert first.redemption.code != second.redemption.code
    assert await coins_of(viewer.id) == 50
    assert await account_balance(await system_account_id(AccountCode.PARTNER_REDEMPTIONS)) == 200
    assert (await spending.totals_of([viewer.id]))[viewer.id].today == 200
    assert (await offers.offers_by_ids([offer_id]))[offer_id].codes_left == 1


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("empty", ErrorCode.OFFER_UNAVAILABLE),
        ("inactive", ErrorCode.OFFER_UNAVAILABLE),
        ("minor", ErrorCode.AGE_RESTRICTED),
        ("poor", ErrorCode.INSUFFICIENT_FUNDS),
        ("limit", ErrorCode.SPENDING_LIMIT_REACHED),
    ],
)
async def test_refused_redemptions_write_nothing(db, case: str, code: ErrorCode) -> None:
    viewer = await make_user(age=16 if case == "minor" else 30, coins=50 if case == "poor" else 500)
    offer_id = await make_offer(0 if case == "empty" else 2, active=case != "inactive")
    if case == "limit":
        await spending.set_limits(viewer.id, Limits(daily=99), raise_delay_s=86_400)
    transfers = await Transfer.count()

    with pytest.raises(DomainError) as refused:
        await redeem(viewer.id, offer_id)

    assert refused.value.code == code
    assert await Transfer.count() == transfers
    assert await Redemption.count() == 0
    assert await OfferCode.count().where(OfferCode.redeemed_by.is_not_null()) == 0
    assert await coins_of(viewer.id) == (50 if case == "poor" else 500)


async def test_concurrent_redemptions_never_share_a_code(db) -> None:
    offer_id = await make_offer(5)
    viewers = [await make_user(coins=100) for _ in range(8)]
    if not is_sqlite():
        await open_pool(current_engine(), 10)

    results = await asyncio.gather(
        *(redeem(v.id, offer_id) for v in viewers), return_exceptions=True
    )

    codes = [r.redemption.code for r in results if isinstance(r, redeeming.Redeemed)]
    refused = [r for r in results if isinstance(r, DomainError)]
    assert len(codes) == len(set(codes)) == 5
    assert [r.code for r in refused] == [ErrorCode.OFFER_UNAVAILABLE] * 3
    assert sorted([await coins_of(v.id) for v in viewers]) == [0] * 5 + [100] * 3


async def test_offers_over_the_api(client: AsyncTestClient, settings) -> None:
    viewer = await make_user(coins=100)
    offer_id = await make_offer(1, per_user=2)
    token = issue_token(viewer.id, settings.auth)
    listed = (await gql(client, "{ partnerOffers { id brand title coinCost available } }"))[
        "partnerOffers"
    ]
    assert [(o["brand"], o["coinCost"], o["available"]) for o in listed] == [
        ("Bean There", 100, True)
    ]
    mutation = """mutation($offer: ID!, $key: String!) {
        redeemOffer(input: {offerId: $offer, idempotencyKey: $key}) {
            redemption { code coins offer { available } } wallet { coins } errors { code } } }"""
    done = (await gql(client, mutation, {"offer": listed[0]["id"], "key": "a"}, token=token))[
        "redeemOffer"
    ]
    assert done["errors"] == []
    assert done["redemption"] == {
        "code": f"BEAN-{offer_id}-0",
        "coins": 100,
        "offer": {"available": False},
    }
    assert done["wallet"] == {"coins": 0}
    empty = (await gql(client, mutation, {"offer": listed[0]["id"], "key": "b"}, token=token))[
        "redeemOffer"
    ]
    assert empty == {"redemption": None, "wallet": None, "errors": [{"code": "OFFER_UNAVAILABLE"}]}


@pytest.mark.parametrize("per_user", [1, 3])
async def test_one_user_racing_for_every_code_gets_only_their_share(db, per_user: int) -> None:
    offer_id = await make_offer(8, coins=10, per_user=per_user)
    greedy = await make_user(coins=1_000)
    other = await make_user(coins=100)
    if not is_sqlite():
        await open_pool(current_engine(), 8)

    results = await asyncio.gather(
        *(redeem(greedy.id, offer_id, f"grab-{n}") for n in range(8)), return_exceptions=True
    )
    theirs = await redeem(other.id, offer_id, "mine")

    taken = [r for r in results if isinstance(r, redeeming.Redeemed)]
    refused = [r for r in results if not isinstance(r, redeeming.Redeemed)]
    assert len(taken) == per_user
    assert [(r.code, r.field) for r in refused if isinstance(r, DomainError)] == [
        (ErrorCode.OFFER_LIMIT_REACHED, "offerId")
    ] * (8 - per_user)
    assert not theirs.replayed
    assert await coins_of(greedy.id) == 1_000 - 10 * per_user
    assert await Redemption.count().where(Redemption.user_id == greedy.id) == per_user
    assert (await offers.offers_by_ids([offer_id]))[offer_id].codes_left == 8 - per_user - 1


async def test_a_refused_redemption_does_not_use_up_the_users_share(db) -> None:
    viewer = await make_user(coins=50)
    offer_id = await make_offer(2, coins=100)

    with pytest.raises(DomainError) as poor:
        await redeem(viewer.id, offer_id, "a")
    await offers_fund(viewer.id, 50)
    done = await redeem(viewer.id, offer_id, "b")

    assert poor.value.code is ErrorCode.INSUFFICIENT_FUNDS
    assert done.redemption.coins == 100
    assert await coins_of(viewer.id) == 0


async def offers_fund(user_id: int, coins: int) -> None:
    from tests.factories import fund

    await fund(user_id, coins)

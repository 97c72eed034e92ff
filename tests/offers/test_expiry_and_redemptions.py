"""Offers expire, carry terms, and each user can find the codes they redeemed again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from litestar.testing import AsyncTestClient

from app.core.clock import set_clock
from app.core.errors import DomainError, ErrorCode
from app.graphql import ids
from app.ledger.tables import Transfer
from app.offers import catalog as offers
from app.offers.tables import OfferCode, Redemption
from app.users.tokens import issue_token
from tests.factories import coins_of, make_stream, make_user
from tests.graphql.helpers import gql, gql_response
from tests.offers.test_redeem import redeem
from tests.statements import count_statements

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
OFFERS = "{ partnerOffers { brand terms expiresAt perUserLimit available } }"
MY_REDEMPTIONS = """query($first: Int!, $after: String) {
    me { redemptions(first: $first, after: $after) {
    edges { cursor node { code coins offer { brand } } } pageInfo { hasNextPage endCursor } } } }"""


class Clock:
    """The service clock, held still and moved by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        set_clock(lambda: self.now)

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


async def _offer(
    brand: str = "Bean There",
    *,
    codes: int = 3,
    per_user: int = 1,
    expires_at: datetime | None = None,
    terms: str = "",
) -> int:
    offer_id = await offers.create_offer(
        brand=brand,
        title="A free coffee",
        coin_cost=10,
        per_user_limit=per_user,
        expires_at=expires_at,
        terms=terms,
    )
    await offers.add_codes(offer_id, [f"{brand[:4].upper()}-{offer_id}-{n}" for n in range(codes)])
    return offer_id


async def test_an_expired_offer_is_unlisted_and_refused_without_writes(db) -> None:
    clock = Clock(NOW)
    viewer = await make_user(coins=100)
    offer_id = await _offer(expires_at=NOW + timedelta(hours=1), per_user=2)
    await _offer("Forever")

    before = await redeem(viewer.id, offer_id, "before")
    assert [o.brand for o in await offers.list_offers()] == ["Bean There", "Forever"]

    clock.advance(hours=1)  # the expiry instant itself is past it
    transfers = await Transfer.count()
    with pytest.raises(DomainError) as refused:
        await redeem(viewer.id, offer_id, "after")

    assert (refused.value.code, refused.value.field) == (ErrorCode.OFFER_EXPIRED, "offerId")
    assert [o.brand for o in await offers.list_offers()] == ["Forever"]
    assert (await offers.offers_by_ids([offer_id]))[offer_id].available is False
    assert await Transfer.count() == transfers
    assert await Redemption.count() == 1
    assert await OfferCode.count().where(OfferCode.redeemed_by.is_not_null()) == 1
    assert await coins_of(viewer.id) == 90
    # The code already handed out stays the user's.
    assert before.redemption.code == f"BEAN-{offer_id}-0"


async def test_offers_show_terms_expiry_and_limit_over_the_api(
    client: AsyncTestClient, settings
) -> None:
    Clock(NOW)
    await _offer(expires_at=NOW + timedelta(days=30), per_user=3, terms="One per visit.")
    await _offer("Gone", expires_at=NOW - timedelta(seconds=1))

    listed = (await gql(client, OFFERS))["partnerOffers"]

    assert listed == [
        {
            "brand": "Bean There",
            "terms": "One per visit.",
            "expiresAt": "2026-12-31T12:00:00+00:00",
            "perUserLimit": 3,
            "available": True,
        }
    ]


async def test_redeeming_an_expired_offer_over_the_api(client: AsyncTestClient, settings) -> None:
    clock = Clock(NOW)
    viewer = await make_user(coins=100)
    offer_id = await _offer(expires_at=NOW + timedelta(minutes=5))
    clock.advance(minutes=5)
    mutation = """mutation($offer: ID!) { redeemOffer(input: {offerId: $offer, idempotencyKey: "k"})
        { redemption { code } errors { code field } } }"""

    done = await gql(
        client,
        mutation,
        {"offer": ids.PARTNER_OFFER.encode(offer_id)},
        token=issue_token(viewer.id, settings.auth),
    )

    assert done["redeemOffer"] == {
        "redemption": None,
        "errors": [{"code": "OFFER_EXPIRED", "field": "offerId"}],
    }


async def test_me_redemptions_pages_newest_first_and_shows_only_mine(
    client: AsyncTestClient, settings
) -> None:
    viewer = await make_user(coins=100)
    other = await make_user(coins=100)
    brands = ["Alpha", "Bravo", "Charlie"]
    for n, brand in enumerate(brands):
        await redeem(viewer.id, await _offer(brand), f"k{n}")
    theirs = await redeem(other.id, await _offer("Delta"), "k")
    token = issue_token(viewer.id, settings.auth)

    first = (await gql(client, MY_REDEMPTIONS, {"first": 2}, token=token))["me"]["redemptions"]
    rest = (
        await gql(
            client,
            MY_REDEMPTIONS,
            {"first": 2, "after": first["pageInfo"]["endCursor"]},
            token=token,
        )
    )["me"]["redemptions"]

    seen = [edge["node"] for edge in first["edges"] + rest["edges"]]
    assert [node["offer"]["brand"] for node in seen] == ["Charlie", "Bravo", "Alpha"]
    assert all(node["coins"] == 10 for node in seen)
    assert first["pageInfo"]["hasNextPage"] is True
    assert rest["pageInfo"] == {"hasNextPage": False, "endCursor": rest["edges"][-1]["cursor"]}
    assert theirs.redemption.code not in {node["code"] for node in seen}

    other_token = issue_token(other.id, settings.auth)
    mine = (await gql(client, MY_REDEMPTIONS, {"first": 10}, token=other_token))["me"]
    assert [e["node"]["code"] for e in mine["redemptions"]["edges"]] == [theirs.redemption.code]
    assert (await gql(client, MY_REDEMPTIONS, {"first": 10}))["me"] is None


async def test_another_users_redemptions_are_null(client: AsyncTestClient, settings) -> None:
    host = await make_user(coins=100)
    await redeem(host.id, await _offer(), "k")
    stream = await make_stream(host)
    snoop = await make_user()
    query = """query($id: ID!) { liveStream(id: $id) { host { handle redemptions(first: 5) {
        edges { node { code } } } } } }"""

    seen = await gql(
        client,
        query,
        {"id": ids.LIVE_STREAM.encode(stream.id)},
        token=issue_token(snoop.id, settings.auth),
    )

    assert seen["liveStream"]["host"] == {"handle": host.handle, "redemptions": None}


async def test_a_cursor_this_list_did_not_give_out_is_refused(
    client: AsyncTestClient, settings
) -> None:
    viewer = await make_user()
    token = issue_token(viewer.id, settings.auth)

    body = await gql_response(
        client, MY_REDEMPTIONS, {"first": 2, "after": "not-a-cursor"}, token=token
    )

    assert body["data"]["me"]["redemptions"] is None
    assert [error["extensions"] for error in body["errors"]] == [
        {"code": "INVALID_INPUT", "field": "after"}
    ]


async def test_a_page_of_redemptions_loads_its_offers_in_one_batch(
    client: AsyncTestClient, settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    viewer = await make_user(coins=100)
    for n, brand in enumerate(["Alpha", "Bravo", "Charlie", "Delta"]):
        await redeem(viewer.id, await _offer(brand), f"k{n}")
    token = issue_token(viewer.id, settings.auth)
    statements = count_statements(monkeypatch)

    counts = []
    for first in (1, 4):
        statements.clear()
        data = await gql(client, MY_REDEMPTIONS, {"first": first}, token=token)
        assert len(data["me"]["redemptions"]["edges"]) == first
        counts.append(len(statements))

    assert counts[0] == counts[1], counts

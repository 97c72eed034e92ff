"""The gift catalog: diamond values, versions on edit, retired gifts, the queries."""

from __future__ import annotations

from fractions import Fraction

import pytest
from litestar.testing import AsyncTestClient

from app.core.ids import encode_id
from app.gifts import catalog
from app.gifts.catalog import diamond_value_for
from tests.factories import make_gift
from tests.graphql.helpers import gql


@pytest.mark.parametrize(
    ("coins", "share", "diamonds"),
    [
        (1, Fraction(1, 2), 1),  # 0.5 rounds half up: a rose still earns a diamond
        (5, Fraction(1, 2), 3),
        (29_999, Fraction(1, 2), 15_000),
        (44_999, Fraction(1, 2), 22_500),
        (100, Fraction(1, 2), 50),
        (3, Fraction(1, 3), 1),
        (1, Fraction(1, 10), 1),  # never zero
        (7, Fraction(7, 10), 5),  # 4.9
    ],
)
def test_diamond_value_rounds_half_up(coins: int, share: Fraction, diamonds: int) -> None:
    assert diamond_value_for(coins, share) == diamonds


async def test_edit_makes_a_new_version_and_explicit_diamonds_win(db) -> None:
    gift = await make_gift("yacht", coins=7_000)
    edited = await catalog.edit_gift(
        gift.id, name="Yacht", coin_cost=8_000, creator_share=Fraction(1, 2), diamond_value=4_100
    )
    assert (edited.coin_cost, edited.diamond_value) == (8_000, 4_100)
    assert edited.version_id != gift.version_id
    old = (await catalog.gifts_by_version_ids([gift.version_id]))[gift.version_id]
    assert (old.coin_cost, old.diamond_value) == (7_000, 3_500)


async def test_gift_queries_cheapest_first_and_retired_on_request(client: AsyncTestClient):
    castle = await make_gift("castle", coins=20_000)
    await make_gift("rose", coins=1)
    retired = await make_gift("old-hat", coins=10)
    await catalog.set_retired(retired.id, True)

    listed = (await gql(client, "{ gifts { slug retired } }"))["gifts"]
    assert [g["slug"] for g in listed] == ["rose", "castle"]
    everything = (await gql(client, "{ gifts(includeRetired: true) { slug retired } }"))["gifts"]
    assert [(g["slug"], g["retired"]) for g in everything] == [
        ("rose", False),
        ("old-hat", True),
        ("castle", False),
    ]
    one = await gql(
        client,
        "query($id: ID!) { gift(id: $id) { name coinCost diamondValue imageUrl } }",
        {"id": encode_id("Gift", castle.id)},
    )
    assert one["gift"] == {
        "name": "Castle",
        "coinCost": 20_000,
        "diamondValue": 10_000,
        "imageUrl": None,
    }
    assert (await gql(client, '{ gift(id: "nope") { name } }'))["gift"] is None

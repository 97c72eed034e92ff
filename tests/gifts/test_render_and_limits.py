"""Gifts apps can render (assets, animation kind, tier, category, sort order) and limited
gifts (a window and regions): validated, versioned, listed and refused at the send."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest
from litestar.testing import AsyncTestClient

from app.core.clock import set_clock
from app.core.errors import DomainError, ErrorCode
from app.core.ids import encode_id
from app.gifts import catalog
from app.gifts.details import AnimationKind, AvailabilityKind, GiftDetails
from app.gifts.tables import GiftEvent
from app.ledger.tables import Transfer
from app.users.tokens import issue_token
from tests.factories import coins_of, make_gift, make_stream, make_user, send
from tests.graphql.helpers import gql

NOW = datetime(2026, 12, 20, 12, 0, tzinfo=UTC)
SHARE = Fraction(1, 2)
ANIMATED = GiftDetails(
    thumbnail_url="https://cdn.example.com/lion.png",
    animation_url="/static/gifts/lion.json",
    animation_kind=AnimationKind.LOTTIE,
    tier=5,
    category="Luxury",
    sort_order=-10,
)
WINTER = GiftDetails(
    category="seasonal",
    availability_kind=AvailabilityKind.SEASONAL,
    available_from=NOW + timedelta(days=1),
    available_until=NOW + timedelta(days=10),
    regions=("us", "GB", "gb"),
)


@pytest.fixture(autouse=True)
def frozen_clock() -> None:
    set_clock(lambda: NOW)


async def test_render_data_is_stored_per_version(db) -> None:
    gift = await catalog.create_gift(
        slug="lion", name="Lion", coin_cost=29_999, creator_share=SHARE, details=ANIMATED
    )
    assert gift.details == replace(ANIMATED, category="luxury")

    renamed = await catalog.edit_gift(
        gift.id, name="Lion King", coin_cost=29_999, creator_share=SHARE
    )
    assert renamed.details == gift.details  # details=None keeps them
    redressed = await catalog.edit_gift(
        gift.id,
        name="Lion King",
        coin_cost=29_999,
        creator_share=SHARE,
        details=replace(gift.details, tier=6, animation_kind=AnimationKind.SVGA),
    )
    assert redressed.version_id != renamed.version_id
    assert (redressed.details.tier, redressed.details.animation_kind) == (6, AnimationKind.SVGA)
    versions = await catalog.list_versions(gift.id)
    assert [v.details.tier for v in versions] == [6, 5, 5]
    unchanged = await catalog.edit_gift(
        gift.id, name="Lion King", coin_cost=29_999, creator_share=SHARE, details=redressed.details
    )
    assert unchanged.version_id == redressed.version_id


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"thumbnail_url": "http://cdn.example.com/a.png"}, "thumbnailUrl"),
        ({"thumbnail_url": "javascript:alert(1)"}, "thumbnailUrl"),
        ({"thumbnail_url": "//evil.example.com/a.png"}, "thumbnailUrl"),
        ({"animation_url": "https://cdn.example.com/a b.json"}, "animationUrl"),
        ({"animation_url": None}, "animationUrl"),  # LOTTIE without its asset
        ({"animation_kind": AnimationKind.NONE}, "animationKind"),  # an asset without a kind
        ({"tier": 0}, "tier"),
        ({"category": "Big Gifts!"}, "category"),
        ({"sort_order": 10**9}, "sortOrder"),
        ({"regions": ("GBR",)}, "regions"),
        ({"available_from": NOW, "available_until": NOW}, "availableUntil"),
        ({"availability_kind": AvailabilityKind.EVENT}, "availableFrom"),
    ],
)
async def test_invalid_details_are_refused_by_field(db, change: dict, field: str) -> None:
    with pytest.raises(DomainError) as refused:
        await catalog.create_gift(
            slug="bad",
            name="Bad",
            coin_cost=5,
            creator_share=SHARE,
            details=replace(ANIMATED, **change),
        )
    assert (refused.value.code, refused.value.field) == (ErrorCode.INVALID_INPUT, field)
    assert await catalog.find_by_slug("bad") is None


async def test_a_limited_gift_is_sent_only_in_its_window_and_regions(db) -> None:
    viewer = await make_user(coins=100)
    stream = await make_stream(await make_user())
    gift = await catalog.create_gift(
        slug="snowman", name="Snowman", coin_cost=10, creator_share=SHARE, details=WINTER
    )
    assert gift.details.regions == ("GB", "US")
    transfers_before = await Transfer.count()

    async def refusal(country: str | None) -> tuple[ErrorCode, str | None, str]:
        with pytest.raises(DomainError) as refused:
            await send(viewer, stream, gift, country=country)
        return refused.value.code, refused.value.field, refused.value.message

    unavailable = ErrorCode.GIFT_UNAVAILABLE
    assert await refusal("GB") == (unavailable, "giftId", "This gift is not available yet.")
    set_clock(lambda: NOW + timedelta(days=2))
    not_here = (unavailable, "country", "This gift is not available in your country.")
    assert await refusal("FR") == not_here
    assert await refusal(None) == not_here  # a regional gift needs the sender's country
    assert await Transfer.count() == transfers_before
    assert await GiftEvent.count() == 0

    sent = await send(viewer, stream, gift, country="gb")
    assert sent.event.coins == 10
    assert await coins_of(viewer.id) == 90

    set_clock(lambda: NOW + timedelta(days=10))  # the window's end is exclusive
    assert await refusal("US") == (unavailable, "giftId", "This gift is no longer available.")
    with pytest.raises(DomainError) as bad_country:
        await send(viewer, stream, gift, country="Britain")
    assert (bad_country.value.code, bad_country.value.field) == (
        ErrorCode.INVALID_INPUT,
        "country",
    )
    assert await GiftEvent.count() == 1


async def test_an_everyday_gift_goes_anywhere_and_a_window_edit_applies_at_once(db) -> None:
    viewer = await make_user(coins=100)
    stream = await make_stream(await make_user())
    rose = await make_gift("rose", coins=1)
    await send(viewer, stream, rose)
    await send(viewer, stream, rose, country="JP")
    await catalog.edit_gift(
        rose.id,
        name="Rose",
        coin_cost=1,
        creator_share=SHARE,
        details=GiftDetails(availability_kind=AvailabilityKind.EVENT, available_until=NOW),
    )
    with pytest.raises(DomainError) as refused:
        await send(viewer, stream, rose)
    assert refused.value.code == ErrorCode.GIFT_UNAVAILABLE


CATALOG = """
query ($category: String, $country: String, $upcoming: Boolean!) {
  gifts(category: $category, country: $country, includeUpcoming: $upcoming) {
    slug thumbnailUrl animationUrl animationKind tier category sortOrder
    availability availableFrom availableUntil regions upcoming
  }
}
"""
SEND = """
mutation ($stream: ID!, $gift: ID!, $country: String) {
  sendGift(input: {streamId: $stream, giftId: $gift, idempotencyKey: "k-1", country: $country}) {
    giftEvent { coins gift { slug animationKind } }
    errors { code field message }
  }
}
"""


async def test_the_catalog_query_renders_filters_and_sorts(
    client: AsyncTestClient, settings
) -> None:
    await make_gift("rose", coins=1)
    await catalog.create_gift(
        slug="lion", name="Lion", coin_cost=29_999, creator_share=SHARE, details=ANIMATED
    )
    await catalog.create_gift(
        slug="snowman", name="Snowman", coin_cost=10, creator_share=SHARE, details=WINTER
    )
    await catalog.create_gift(
        slug="pumpkin",
        name="Pumpkin",
        coin_cost=3,
        creator_share=SHARE,
        details=GiftDetails(
            category="seasonal",
            availability_kind=AvailabilityKind.SEASONAL,
            available_until=NOW - timedelta(days=30),
        ),
    )

    async def slugs(**variables: object) -> list[str]:
        data = await gql(client, CATALOG, {"upcoming": False, **variables})
        return [gift["slug"] for gift in data["gifts"]]

    assert await slugs() == ["lion", "rose"]  # sort order first, then cheapest
    assert await slugs(upcoming=True) == ["lion", "rose"]  # regional: needs a country
    assert await slugs(upcoming=True, country="gb") == ["lion", "rose", "snowman"]
    assert await slugs(category="seasonal", upcoming=True, country="US") == ["snowman"]
    assert await slugs(category="luxury") == ["lion"]

    listed = await gql(client, CATALOG, {"upcoming": True, "country": "GB"})
    lion, _, snowman = listed["gifts"]
    assert lion == {
        "slug": "lion",
        "thumbnailUrl": "https://cdn.example.com/lion.png",
        "animationUrl": "/static/gifts/lion.json",
        "animationKind": "LOTTIE",
        "tier": 5,
        "category": "luxury",
        "sortOrder": -10,
        "availability": "PERMANENT",
        "availableFrom": None,
        "availableUntil": None,
        "regions": [],
        "upcoming": False,
    }
    assert (snowman["availability"], snowman["regions"], snowman["upcoming"]) == (
        "SEASONAL",
        ["GB", "US"],
        True,
    )
    assert snowman["availableFrom"].startswith("2026-12-21T12:00:00")

    set_clock(lambda: NOW + timedelta(days=2))
    viewer = await make_user("vera", coins=50)
    stream = await make_stream(await make_user("ana"))
    token = issue_token(viewer.id, settings.auth)
    variables = {"stream": encode_id("LiveStream", stream.id)}
    snowman = await catalog.find_by_slug("snowman")
    assert snowman is not None
    snowman_id = encode_id("Gift", snowman.id)
    refused = await gql(
        client, SEND, {**variables, "gift": snowman_id, "country": "FR"}, token=token
    )
    assert refused["sendGift"]["errors"] == [
        {
            "code": "GIFT_UNAVAILABLE",
            "field": "country",
            "message": "This gift is not available in your country.",
        }
    ]
    sent = await gql(client, SEND, {**variables, "gift": snowman_id, "country": "US"}, token=token)
    assert sent["sendGift"]["giftEvent"] == {
        "coins": 10,
        "gift": {"slug": "snowman", "animationKind": "NONE"},
    }


async def test_seed_gives_the_demo_catalog_render_data_and_a_seasonal_gift(db) -> None:
    from app.seed import seed_catalog, winter_window

    older = await make_gift("rose", coins=1)  # seeded before gifts had render data
    done = await seed_catalog(SHARE)
    assert "render data for Rose" in done
    rose = await catalog.get_gift(older.id)
    assert (rose.coin_cost, rose.details.category, rose.details.sort_order) == (1, "classic", 0)
    lion = await catalog.find_by_slug("lion")
    assert lion is not None
    assert (lion.details.category, lion.details.tier) == ("luxury", 5)
    snowman = await catalog.find_by_slug("snowman")
    assert snowman is not None
    assert snowman.details.availability_kind is AvailabilityKind.SEASONAL
    assert (snowman.details.available_from, snowman.details.available_until) == winter_window(NOW)
    assert snowman.details.available_until > NOW  # this winter's, not last winter's
    assert await seed_catalog(SHARE) == []  # again: nothing to do
    assert winter_window(datetime(2027, 1, 3, tzinfo=UTC))[0].year == 2026
    assert winter_window(datetime(2027, 1, 8, tzinfo=UTC))[0].year == 2027

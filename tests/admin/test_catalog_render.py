"""Catalog staff set a gift's render data and availability; each edit is a version with
who and when, audited, and refusals are shown beside their field."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from litestar.testing import AsyncTestClient

from app.audit import service as audit
from app.gifts import catalog
from app.gifts.details import AnimationKind, AvailabilityKind
from app.gifts.tables import GiftVersion
from tests.admin.helpers import make_staff, post_form, sign_in
from tests.factories import make_gift

RENDERED = {
    "slug": "comet",
    "name": "Comet",
    "coinCost": "500",
    "thumbnailUrl": "https://cdn.example.com/comet.png",
    "animationUrl": "/static/gifts/comet.svga",
    "animationKind": "SVGA",
    "tier": "4",
    "category": "space",
    "sortOrder": "-5",
    "availability": "PERMANENT",
    "availableFrom": "",
    "availableUntil": "",
    "regions": "",
}


async def _as_catalog(client: AsyncTestClient) -> None:
    await make_staff("cat", "CATALOG")
    assert (await sign_in(client, "cat")).status_code == 303


async def test_create_with_render_data_then_limit_it_as_a_new_version(
    client: AsyncTestClient,
) -> None:
    await _as_catalog(client)
    created = await post_form(client, "/admin/gifts", "/admin/gifts", RENDERED)
    assert created.status_code == 303, created.text
    gift = await catalog.find_by_slug("comet")
    assert gift is not None
    assert gift.details.animation_kind is AnimationKind.SVGA
    assert (gift.details.tier, gift.details.category, gift.details.sort_order) == (4, "space", -5)

    page = await client.get(f"/admin/gifts/{gift.id}")
    assert 'value="https://cdn.example.com/comet.png"' in page.text  # the form shows them
    assert '<option value="SVGA" selected>' in page.text

    edit = {key: value for key, value in RENDERED.items() if key != "slug"}
    edited = await post_form(
        client,
        f"/admin/gifts/{gift.id}",
        f"/admin/gifts/{gift.id}",
        {
            **edit,
            "version": str(gift.version_id),
            "availability": "EVENT",
            "availableFrom": "2026-12-31T20:00",
            "availableUntil": "2027-01-01T04:00",
            "regions": "gb, us US",
        },
    )
    assert edited.status_code == 303, edited.text
    limited = await catalog.get_gift(gift.id)
    assert limited.version_id != gift.version_id
    assert limited.details.availability_kind is AvailabilityKind.EVENT
    assert limited.details.available_from == datetime(2026, 12, 31, 20, 0, tzinfo=UTC)
    assert limited.details.regions == ("GB", "US")
    versions = await catalog.list_versions(gift.id)
    assert [(v.details.availability_kind, v.created_by) for v in versions] == [
        (AvailabilityKind.EVENT, "cat"),
        (AvailabilityKind.PERMANENT, "cat"),
    ]
    [entry] = await audit.list_entries(limit=5, action="gift.edit")
    assert entry.after is not None
    assert entry.after["regions"] == "GB,US"
    assert entry.before is not None
    assert entry.before["availability_kind"] == "PERMANENT"

    page = await client.get(f"/admin/gifts/{gift.id}")
    # Only the availability changed: the flash says so, not that the gift "now costs".
    assert f"Comet saved as version #{limited.version_id}; its price is unchanged" in page.text
    history = page.text.split('id="versions"', 1)[1]
    assert "Event from 2026-12-31 20:00:00 UTC until 2027-01-01 04:00:00 UTC in GB, US" in history
    assert 'value="2026-12-31T20:00"' in page.text
    listing = await client.get("/admin/gifts")
    assert "Event from 2026-12-31" in listing.text


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"thumbnailUrl": "http://cdn.example.com/c.png"}, "thumbnailUrl", "starts with https://"),
        ({"animationKind": "NONE"}, "animationKind", "Choose the animation"),
        ({"animationKind": "GIF"}, "animationKind", "Choose one of the options"),
        ({"tier": "11"}, "tier", "A tier is 1 to 10"),
        ({"regions": "Britain"}, "regions", "two-letter ISO code"),
        ({"availableFrom": "tomorrow"}, "availableFrom", "is a date and time"),
        (
            {"availableFrom": "2027-01-02T00:00", "availableUntil": "2027-01-01T00:00"},
            "availableUntil",
            "ends after it starts",
        ),
        ({"availability": "SEASONAL"}, "availableFrom", "needs a window"),
    ],
)
async def test_bad_details_are_shown_beside_the_field(
    client: AsyncTestClient, change: dict[str, str], field: str, message: str
) -> None:
    gift = await make_gift("rose", coins=1)
    await _as_catalog(client)
    versions = await GiftVersion.count()
    form = {**RENDERED, "slug": "rose", "name": "Rose", "version": str(gift.version_id), **change}
    del form["slug"]

    response = await post_form(client, f"/admin/gifts/{gift.id}", f"/admin/gifts/{gift.id}", form)

    assert response.status_code == 400
    beside = response.text.split(f'id="{field}-error">', 1)[1].split("</div>", 1)[0]
    assert message in beside
    assert await GiftVersion.count() == versions


async def test_forms_without_a_csrf_token_are_refused(client: AsyncTestClient) -> None:
    await _as_catalog(client)
    response = await client.post("/admin/gifts", data=RENDERED, follow_redirects=False)
    assert response.status_code == 403
    assert await catalog.find_by_slug("comet") is None

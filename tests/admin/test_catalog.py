"""Catalog staff manage gifts and partner offers; each change is audited in its transaction."""

from __future__ import annotations

import asyncio
import re
from fractions import Fraction

import pytest
from litestar.testing import AsyncTestClient

from app.audit import service as audit
from app.audit.service import Actor
from app.audit.tables import AuditEntry
from app.core.errors import DomainError
from app.gifts import catalog
from app.gifts.tables import Gift, GiftVersion
from app.offers import catalog as offers
from app.offers.tables import OfferCode, PartnerOffer
from tests.admin.helpers import csrf_token, make_staff, post_form, sign_in
from tests.factories import make_gift
from tests.graphql.helpers import gql

GIFTS = "{ gifts(includeRetired: true) { slug name coinCost diamondValue imageUrl retired } }"


async def _as_catalog(client: AsyncTestClient) -> None:
    await make_staff("cat", "CATALOG")
    assert (await sign_in(client, "cat")).status_code == 303


async def _actions(prefix: str) -> list[str]:
    return [entry.action for entry in await audit.list_entries(limit=50, action=prefix)]


# Gifts ------------------------------------------------------------------------------------


async def test_create_a_gift_and_the_api_lists_it(client: AsyncTestClient) -> None:
    await _as_catalog(client)

    response = await post_form(
        client,
        "/admin/gifts",
        "/admin/gifts",
        {"slug": "Comet", "name": " Comet ", "coinCost": "1,999", "imageUrl": "https://x.io/c.png"},
    )

    assert response.status_code == 303
    gift = await catalog.find_by_slug("comet")
    assert gift is not None
    assert response.headers["location"] == f"/admin/gifts/{gift.id}"
    assert (await gql(client, GIFTS))["gifts"] == [
        {
            "slug": "comet",
            "name": "Comet",
            "coinCost": 1_999,
            "diamondValue": 1_000,  # 999.5 rounds up for the creator
            "imageUrl": "https://x.io/c.png",
            "retired": False,
        }
    ]
    [entry] = await audit.list_entries(limit=5, action="gift.")
    assert (entry.action, entry.actor, entry.target_type, entry.target_id) == (
        "gift.create",
        "cat",
        "gift",
        str(gift.id),
    )
    assert entry.after is not None
    assert entry.after["coin_cost"] == 1_999
    page = await client.get(f"/admin/gifts/{gift.id}")
    assert "Comet" in page.text
    assert "is in the catalog at 1,999 coins" in page.text  # the flash after the redirect


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        ({"slug": "Bad Slug!", "name": "X", "coinCost": "5"}, "slug", "A slug is lowercase"),
        ({"slug": "ok", "name": "  ", "coinCost": "5"}, "name", "A name is 1 to 64"),
        ({"slug": "ok", "name": "Ok", "coinCost": "0"}, "coinCost", "at least 1 coin"),
        ({"slug": "ok", "name": "Ok", "coinCost": "1.5"}, "coinCost", "is a whole number"),
        ({"slug": "ok", "name": "Ok", "coinCost": ""}, "coinCost", "Enter a coin cost"),
        (
            {"slug": "ok", "name": "Ok", "coinCost": "10", "diamondValue": "11"},
            "diamondValue",
            "more diamonds than it costs",
        ),
        (
            {"slug": "ok", "name": "Ok", "coinCost": "10", "imageUrl": "javascript:alert(1)"},
            "imageUrl",
            "An image URL starts with",
        ),
        ({"slug": "rose", "name": "Rose again", "coinCost": "3"}, "slug", "slug exists"),
    ],
)
async def test_bad_gift_input_is_shown_beside_the_field_and_nothing_is_written(
    client: AsyncTestClient, form: dict[str, str], field: str, message: str
) -> None:
    await make_gift("rose", coins=1)
    await _as_catalog(client)
    gifts, versions, entries = (
        await Gift.count(),
        await GiftVersion.count(),
        await AuditEntry.count(),
    )

    response = await post_form(client, "/admin/gifts", "/admin/gifts", form)

    assert response.status_code == 400
    assert f'<div class="error-text" id="{field}-error">' in response.text
    beside = response.text.split(f'id="{field}-error">', 1)[1].split("</div>", 1)[0]
    assert message in beside
    assert 'value="' + form["name"] + '"' in response.text  # what was typed is kept
    assert (await Gift.count(), await GiftVersion.count()) == (gifts, versions)
    assert await AuditEntry.count() == entries


async def test_a_price_change_is_a_new_version_with_who_and_when(client: AsyncTestClient) -> None:
    gift = await make_gift("doughnut", coins=30)
    await _as_catalog(client)

    response = await post_form(
        client,
        f"/admin/gifts/{gift.id}",
        f"/admin/gifts/{gift.id}",
        {"name": "Doughnut", "coinCost": "40", "diamondValue": "", "version": str(gift.version_id)},
    )

    assert response.status_code == 303
    edited = await catalog.get_gift(gift.id)
    assert (edited.coin_cost, edited.diamond_value) == (40, 20)
    assert edited.version_id != gift.version_id
    old = (await catalog.gifts_by_version_ids([gift.version_id]))[gift.version_id]
    assert old.coin_cost == 30  # gifts already sent keep their price
    versions = await catalog.list_versions(gift.id)
    assert [(v.coin_cost, v.created_by) for v in versions] == [(40, "cat"), (30, None)]
    [entry] = await audit.list_entries(limit=5, action="gift.edit")
    assert entry.before is not None
    assert entry.after is not None
    assert (entry.before["coin_cost"], entry.after["coin_cost"]) == (30, 40)
    assert entry.after["version_id"] == edited.version_id

    page = await client.get(f"/admin/gifts/{gift.id}")
    assert f'<tr data-version="{edited.version_id}">' in page.text
    history = page.text.split('id="versions"', 1)[1]
    assert history.index("#" + str(edited.version_id)) < history.index("#" + str(gift.version_id))
    assert "<td>cat</td>" in history


async def test_an_explicit_diamond_value_is_kept_and_a_no_change_save_writes_nothing(
    client: AsyncTestClient,
) -> None:
    gift = await make_gift("yacht", coins=7_000)
    await _as_catalog(client)
    form = {"name": "Yacht", "coinCost": "7000", "diamondValue": "3600", "imageUrl": ""}

    await post_form(
        client, f"/admin/gifts/{gift.id}", "/admin/gifts", {**form, "version": str(gift.version_id)}
    )
    edited = await catalog.get_gift(gift.id)
    assert edited.diamond_value == 3_600
    page = await client.get(f"/admin/gifts/{gift.id}")
    [diamond_input] = re.findall(r'<input id="diamondValue"[^>]*>', page.text)
    assert 'value="3600"' in diamond_input

    again = await post_form(
        client,
        f"/admin/gifts/{gift.id}",
        "/admin/gifts",
        {**form, "version": str(edited.version_id)},
    )
    assert again.status_code == 303
    assert len(await catalog.list_versions(gift.id)) == 2
    assert await _actions("gift.") == ["gift.edit"]


async def test_an_edit_over_someone_elses_is_refused_until_reviewed(
    client: AsyncTestClient,
) -> None:
    gift = await make_gift("castle", coins=20_000)
    await _as_catalog(client)
    other = Actor(None, "other", "CATALOG")
    newer = await catalog.edit_gift(
        gift.id, name="Castle", coin_cost=21_000, creator_share=Fraction(1, 2), actor=other
    )

    stale = await post_form(
        client,
        f"/admin/gifts/{gift.id}",
        "/admin/gifts",
        {"name": "Castle", "coinCost": "19000", "version": str(gift.version_id)},
    )

    assert stale.status_code == 400
    assert "Someone changed this gift" in stale.text
    assert f'name="version" value="{newer.version_id}"' in stale.text
    assert (await catalog.get_gift(gift.id)).coin_cost == 21_000


async def test_bad_edit_shows_the_message_and_keeps_the_price(client: AsyncTestClient) -> None:
    gift = await make_gift("lion", coins=29_999)
    await _as_catalog(client)
    entries = await AuditEntry.count()

    response = await post_form(
        client,
        f"/admin/gifts/{gift.id}",
        "/admin/gifts",
        {"name": "Lion", "coinCost": "-5", "version": str(gift.version_id)},
    )

    assert response.status_code == 400
    assert 'id="coinCost-error">A gift costs at least 1 coin.' in response.text
    assert 'value="-5"' in response.text
    assert await catalog.get_gift(gift.id) == gift
    assert await AuditEntry.count() == entries


async def test_retire_needs_confirmation_then_restore(client: AsyncTestClient) -> None:
    gift = await make_gift("old-hat", coins=10)
    await _as_catalog(client)
    detail = f"/admin/gifts/{gift.id}"

    unconfirmed = await post_form(client, f"{detail}/retire", detail, {"reason": "x"})
    assert unconfirmed.status_code == 303
    assert not (await catalog.get_gift(gift.id)).retired

    await post_form(client, f"{detail}/retire", detail, {"reason": "seasonal", "confirm": "yes"})
    assert (await catalog.get_gift(gift.id)).retired
    assert (await gql(client, "{ gifts { slug } }"))["gifts"] == []
    listed = await client.get("/admin/gifts?status=retired")
    assert 'data-gift="old-hat"' in listed.text
    assert 'data-gift="old-hat"' not in (await client.get("/admin/gifts?status=on_sale")).text

    await post_form(client, f"{detail}/restore", detail, {})
    assert not (await catalog.get_gift(gift.id)).retired
    entries = await audit.list_entries(limit=5, action="gift.")
    assert [(e.action, e.reason) for e in entries] == [
        ("gift.restore", ""),
        ("gift.retire", "seasonal"),
    ]


async def test_the_list_filters_by_text_and_pages(client: AsyncTestClient) -> None:
    await make_gift("rose", coins=1)
    await make_gift("red-rocket", coins=50, name="Rocket")
    await make_gift("lion", coins=29_999)
    await _as_catalog(client)

    found = (await client.get("/admin/gifts?q=RO")).text
    assert 'data-gift="rose"' in found
    assert 'data-gift="red-rocket"' in found
    assert 'data-gift="lion"' not in found
    assert "Next page" not in found
    assert (await client.get("/admin/gifts?q=zzz")).text.count("No gifts match") == 1


async def test_concurrent_edits_each_make_a_version_and_one_is_current(db) -> None:
    gift = await make_gift("disco-ball", coins=1_000)
    actor = Actor(None, "cat", "CATALOG")

    async def reprice(coins: int) -> None:
        await catalog.edit_gift(
            gift.id, name="Disco Ball", coin_cost=coins, creator_share=Fraction(1, 2), actor=actor
        )

    await asyncio.gather(*(reprice(1_000 + n) for n in range(1, 6)))

    versions = await catalog.list_versions(gift.id)
    assert len(versions) == 6
    assert (await catalog.get_gift(gift.id)).version_id == versions[0].id
    entries = await audit.list_entries(limit=10, action="gift.edit")
    assert len(entries) == 5
    # each edit saw the version before it: the audit trail is a chain, no lost update
    befores = sorted(e.before["version_id"] for e in entries if e.before)
    assert befores == sorted(v.id for v in versions[1:])


# Offers -----------------------------------------------------------------------------------


async def _offer(coins: int = 350) -> int:
    return await offers.create_offer(brand="Bean There", title="A free coffee", coin_cost=coins)


async def test_create_and_edit_an_offer(client: AsyncTestClient) -> None:
    await _as_catalog(client)

    created = await post_form(
        client,
        "/admin/offers",
        "/admin/offers",
        {"brand": "Bean There", "title": "A free coffee", "coinCost": "350", "active": "yes"},
    )
    assert created.status_code == 303
    [offer] = (await offers.offers_by_ids()).values()
    assert created.headers["location"] == f"/admin/offers/{offer.id}"
    assert (offer.brand, offer.title, offer.coin_cost, offer.active) == (
        "Bean There",
        "A free coffee",
        350,
        True,
    )

    edited = await post_form(
        client,
        f"/admin/offers/{offer.id}",
        f"/admin/offers/{offer.id}",
        {"brand": "Bean There", "title": "Two coffees", "coinCost": "600"},  # active unticked
    )
    assert edited.status_code == 303
    after = (await offers.offers_by_ids([offer.id]))[offer.id]
    assert (after.title, after.coin_cost, after.active) == ("Two coffees", 600, False)
    entries = await audit.list_entries(limit=5, action="offer.")
    assert [e.action for e in entries] == ["offer.edit", "offer.create"]
    assert entries[0].before == {"title": "A free coffee", "coin_cost": 350, "active": True}
    assert entries[0].after == {"title": "Two coffees", "coin_cost": 600, "active": False}
    listed = await client.get("/admin/offers?status=inactive")
    assert f'data-offer="{offer.id}"' in listed.text
    assert f'data-offer="{offer.id}"' not in (await client.get("/admin/offers?status=active")).text


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        ({"brand": "", "title": "T", "coinCost": "5"}, "brand", "A brand is 1 to 64"),
        ({"brand": "B", "title": "x" * 121, "coinCost": "5"}, "title", "A title is 1 to 120"),
        ({"brand": "B", "title": "T", "coinCost": "0"}, "coinCost", "at least 1 coin"),
        ({"brand": "B", "title": "T", "coinCost": "lots"}, "coinCost", "is a whole number"),
    ],
)
async def test_bad_offer_input_is_shown_beside_the_field(
    client: AsyncTestClient, form: dict[str, str], field: str, message: str
) -> None:
    await _as_catalog(client)
    entries = await AuditEntry.count()

    response = await post_form(client, "/admin/offers", "/admin/offers", form)

    assert response.status_code == 400
    beside = response.text.split(f'id="{field}-error">', 1)[1].split("</div>", 1)[0]
    assert message in beside
    assert await PartnerOffer.count() == 0
    assert await AuditEntry.count() == entries


async def test_paste_codes_skips_and_reports_duplicates(client: AsyncTestClient) -> None:
    offer_id = await _offer()
    await offers.add_codes(offer_id, ["OLD-1"])
    await _as_catalog(client)
    page = f"/admin/offers/{offer_id}"

    response = await post_form(
        client, f"{page}/codes", page, {"codes": "NEW-1\r\n\r\n OLD-1 \nNEW-2\nNEW-1\n"}
    )

    assert response.status_code == 303
    shown = await client.get(page)
    assert "2 code(s) added. 2 duplicate(s) skipped: OLD-1, NEW-1." in shown.text
    assert '<div class="value" data-testid="codes-left">3</div>' in shown.text
    codes = await OfferCode.select(OfferCode.code).where(OfferCode.offer_id == offer_id)
    assert sorted(row["code"] for row in codes) == ["NEW-1", "NEW-2", "OLD-1"]
    [entry] = await audit.list_entries(limit=5, action="offer.load_codes")
    assert entry.after == {"added": 2, "skipped": 2}
    assert entry.target_id == str(offer_id)
    listed = await client.get("/admin/offers")
    assert 'data-testid="codes-left">3</td>' in listed.text


async def test_many_duplicates_are_summed_up_in_the_message(client: AsyncTestClient) -> None:
    offer_id = await _offer()
    codes = [f"{n:03d}-" + "X" * 90 for n in range(300)]
    await offers.add_codes(offer_id, codes)
    await _as_catalog(client)
    page = f"/admin/offers/{offer_id}"

    response = await post_form(client, f"{page}/codes", page, {"codes": "\n".join(codes)})

    assert response.status_code == 303
    flash = (await client.get(page)).text
    assert "0 code(s) added. 300 duplicate(s) skipped: 000-XXX" in flash
    assert " more.</div>" in flash
    assert (await offers.offers_by_ids([offer_id]))[offer_id].codes_left == 300


async def test_upload_a_csv_file_of_codes(client: AsyncTestClient) -> None:
    offer_id = await _offer()
    await _as_catalog(client)
    page = f"/admin/offers/{offer_id}"
    token = await csrf_token(client, page)
    body = '\ufeffcode,note\nCSV-1,first\n"CSV-2",second\nCSV-3\n'.encode()

    response = await client.post(
        f"{page}/codes",
        data={"_csrf_token": token, "codes": ""},
        files={"file": ("codes.csv", body, "text/csv")},
        follow_redirects=False,
    )

    assert response.status_code == 303
    assert (await offers.offers_by_ids([offer_id]))[offer_id].codes_left == 3
    assert "3 code(s) added." in (await client.get(page)).text


@pytest.mark.parametrize(
    ("data", "files", "field", "message"),
    [
        ({"codes": "  \n\n"}, None, "codes", "Paste codes or choose a file"),
        ({"codes": "OK-1\nhas space\n"}, None, "codes", "Line 2: a code is at most 128"),
        ({"codes": "x" * 129}, None, "codes", "Line 1: a code is at most 128"),
        ({"codes": ""}, {"file": ("c.txt", b"\xff\xfe\x00bad", "text/plain")}, "file", "UTF-8"),
        ({"codes": "GOOD-1"}, {"file": ("c.txt", b"a b\n", "text/plain")}, "file", "c.txt: Line 1"),
    ],
)
async def test_bad_codes_load_nothing(
    client: AsyncTestClient,
    data: dict[str, str],
    files: dict | None,
    field: str,
    message: str,
) -> None:
    offer_id = await _offer()
    await _as_catalog(client)
    page = f"/admin/offers/{offer_id}"
    token = await csrf_token(client, page)
    entries = await AuditEntry.count()

    response = await client.post(
        f"{page}/codes",
        data={**data, "_csrf_token": token},
        files=files or {"file": ("", b"", "application/octet-stream")},
        follow_redirects=False,
    )

    assert response.status_code == 400
    beside = response.text.split(f'id="{field}-error">', 1)[1].split("</div>", 1)[0]
    assert message in beside
    assert await OfferCode.count() == 0
    assert await AuditEntry.count() == entries


async def test_a_code_load_without_csrf_token_is_refused(client: AsyncTestClient) -> None:
    offer_id = await _offer()
    await _as_catalog(client)

    response = await client.post(
        f"/admin/offers/{offer_id}/codes", data={"codes": "SNEAKY-1"}, follow_redirects=False
    )

    assert response.status_code == 403
    assert await OfferCode.count() == 0


async def test_a_load_into_a_missing_offer_is_not_found(client: AsyncTestClient) -> None:
    await _as_catalog(client)
    token = await csrf_token(client, "/admin/offers")

    response = await client.post(
        "/admin/offers/999/codes", data={"codes": "X-1", "_csrf_token": token}
    )

    assert response.status_code == 404
    with pytest.raises(DomainError):
        await offers.load_codes(999, ["X-1"])


@pytest.mark.parametrize("role", ["MODERATOR", "FINANCE"])
async def test_other_roles_cannot_touch_the_catalog(client: AsyncTestClient, role: str) -> None:
    gift = await make_gift("rose", coins=1)
    offer_id = await _offer()
    await make_staff("someone", role)
    await sign_in(client, "someone")
    token = await csrf_token(client, "/admin")

    for path in [
        "/admin/gifts",
        f"/admin/gifts/{gift.id}",
        "/admin/offers",
        f"/admin/offers/{offer_id}",
    ]:
        assert (await client.get(path)).status_code == 403, path
    posts = {
        "/admin/gifts": {"slug": "x", "name": "X", "coinCost": "1"},
        f"/admin/gifts/{gift.id}": {"name": "Rose", "coinCost": "99"},
        f"/admin/gifts/{gift.id}/retire": {"confirm": "yes"},
        "/admin/offers": {"brand": "B", "title": "T", "coinCost": "1"},
        f"/admin/offers/{offer_id}/codes": {"codes": "X-1"},
    }
    for path, form in posts.items():
        response = await client.post(path, data={**form, "_csrf_token": token})
        assert response.status_code == 403, path
    assert (await catalog.get_gift(gift.id)) == gift
    assert await Gift.count() == 1
    assert await OfferCode.count() == 0
    assert await audit.list_entries(limit=5, action="gift.") == []

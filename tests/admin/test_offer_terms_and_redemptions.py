"""Catalog staff set an offer's limit, expiry and terms, and see who redeemed it.

Codes are worth money at the partner: the staff list masks them, and showing one in full
is a POST that writes an audit entry (naming the redemption, never the code).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from litestar.testing import AsyncTestClient

from app.audit import service as audit
from app.audit.tables import AuditEntry
from app.offers import catalog as offers
from app.offers.tables import PartnerOffer
from tests.admin.helpers import csrf_token, make_staff, post_form, sign_in
from tests.factories import make_user
from tests.offers.test_redeem import redeem

NEW_OFFER = {
    "brand": "Bean There",
    "title": "A free coffee",
    "coinCost": "350",
    "active": "yes",
    "perUserLimit": "3",
    "expiresAt": "2026-12-31T23:30",
    "terms": "  One per visit. Not with other offers.  ",
}


async def _signed_in(client: AsyncTestClient, role: str = "CATALOG") -> None:
    await make_staff("staff1", role)
    assert (await sign_in(client, "staff1")).status_code == 303


async def test_the_offer_form_sets_and_edits_limit_expiry_and_terms(
    client: AsyncTestClient,
) -> None:
    await _signed_in(client)

    created = await post_form(client, "/admin/offers", "/admin/offers", NEW_OFFER)

    assert created.status_code == 303
    [offer] = (await offers.offers_by_ids()).values()
    assert (offer.per_user_limit, offer.expires_at, offer.terms) == (
        3,
        datetime(2026, 12, 31, 23, 30, tzinfo=UTC),
        "One per visit. Not with other offers.",
    )
    [made] = await audit.list_entries(limit=5, action="offer.create")
    assert made.after is not None
    assert made.after["per_user_limit"] == 3
    assert made.after["expires_at"] == "2026-12-31T23:30:00+00:00"
    page = (await client.get(f"/admin/offers/{offer.id}")).text
    assert 'value="2026-12-31T23:30"' in page
    assert ">One per visit. Not with other offers.</textarea>" in page

    edited = await post_form(
        client,
        f"/admin/offers/{offer.id}",
        f"/admin/offers/{offer.id}",
        {**NEW_OFFER, "perUserLimit": "1", "expiresAt": "", "terms": "None."},
    )

    assert edited.status_code == 303
    after = (await offers.offers_by_ids([offer.id]))[offer.id]
    assert (after.per_user_limit, after.expires_at, after.terms) == (1, None, "None.")
    [entry] = await audit.list_entries(limit=5, action="offer.edit")
    assert entry.before == {
        "per_user_limit": 3,
        "expires_at": "2026-12-31T23:30:00+00:00",
        "terms": "One per visit. Not with other offers.",
    }
    assert entry.after == {"per_user_limit": 1, "expires_at": None, "terms": "None."}


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"perUserLimit": "0"}, "perUserLimit", "1 to 1000 codes"),
        ({"perUserLimit": "many"}, "perUserLimit", "is a whole number"),
        ({"expiresAt": "next tuesday"}, "expiresAt", "is a date and time (UTC)"),
        ({"terms": "x" * 2_001}, "terms", "at most 2,000 characters"),
    ],
)
async def test_bad_limit_expiry_or_terms_are_shown_beside_the_field(
    client: AsyncTestClient, change: dict[str, str], field: str, message: str
) -> None:
    await _signed_in(client)
    entries = await AuditEntry.count()

    response = await post_form(client, "/admin/offers", "/admin/offers", {**NEW_OFFER, **change})

    assert response.status_code == 400
    beside = response.text.split(f'id="{field}-error">', 1)[1].split("</div>", 1)[0]
    assert message in beside
    assert await PartnerOffer.count() == 0
    assert await AuditEntry.count() == entries


async def _redeemed_offer() -> tuple[int, list[str]]:
    offer_id = await offers.create_offer(
        brand="Bean There", title="A free coffee", coin_cost=10, per_user_limit=2
    )
    await offers.add_codes(offer_id, [f"BEAN-SECRET-{n:04d}" for n in range(4)])
    alice = await make_user("alice", coins=100)
    bob = await make_user("bob", coins=100)
    codes = [
        (await redeem(alice.id, offer_id, "a1")).redemption.code,
        (await redeem(bob.id, offer_id, "b1")).redemption.code,
        (await redeem(alice.id, offer_id, "a2")).redemption.code,
    ]
    return offer_id, codes


async def test_staff_see_who_redeemed_with_codes_masked_and_showing_one_is_audited(
    client: AsyncTestClient,
) -> None:
    offer_id, codes = await _redeemed_offer()
    await _signed_in(client)
    page = f"/admin/offers/{offer_id}"

    listed = (await client.get(page)).text

    rows = listed.split('<tr data-redemption="')[1:]
    assert [row.split("@", 1)[1].split("<", 1)[0].strip() for row in rows] == [
        "alice",
        "bob",
        "alice",
    ]  # newest first
    assert all(code not in listed for code in codes)
    assert '<code data-testid="code-masked">••••0002</code>' in rows[0]

    redemption_id = int(rows[1].split('"', 1)[0])
    shown = await post_form(client, f"{page}/redemptions/{redemption_id}/code", page, {})

    assert shown.status_code == 200
    assert f'<code data-testid="code-revealed">{codes[1]}</code>' in shown.text
    assert codes[0] not in shown.text
    assert codes[2] not in shown.text
    [entry] = await audit.list_entries(limit=5, action="offer.reveal_code")
    assert (entry.actor, entry.target_type, entry.target_id) == (
        "staff1",
        "partner_offer",
        str(offer_id),
    )
    assert entry.after is not None
    assert entry.after["redemption"] == redemption_id
    assert codes[1] not in str(entry.after)


async def test_the_redemptions_list_pages_newest_first(
    client: AsyncTestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.admin.routes import offers as offer_routes

    monkeypatch.setattr(offer_routes, "REDEMPTIONS_PAGE", 2)
    offer_id, _ = await _redeemed_offer()
    await _signed_in(client)
    page = f"/admin/offers/{offer_id}"

    first = (await client.get(page)).text
    next_link = first.split('rel="next" href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    second = (await client.get(next_link)).text

    def ids(text: str) -> list[int]:
        return [int(row.split('"', 1)[0]) for row in text.split('<tr data-redemption="')[1:]]

    assert len(ids(first)) == 2
    assert len(ids(second)) == 1
    assert ids(first) + ids(second) == sorted(ids(first) + ids(second), reverse=True)
    assert 'rel="prev"' in second
    assert 'rel="next"' not in second

    # Showing a code redraws the page the button was on.
    [last] = ids(second)
    after = next_link.split("after=", 1)[1]
    shown = await post_form(client, f"{page}/redemptions/{last}/code", page, {"after": after})
    assert ids(shown.text) == [last]
    assert 'data-testid="code-revealed"' in shown.text


async def test_showing_a_code_needs_the_catalog_role_a_token_and_the_right_offer(
    client: AsyncTestClient,
) -> None:
    offer_id, codes = await _redeemed_offer()
    other_offer = await offers.create_offer(brand="Other", title="Thing", coin_cost=5)
    page = f"/admin/offers/{offer_id}"
    await _signed_in(client, "MODERATOR")
    redemption = 1

    assert (await client.get(page)).status_code == 403
    token = await csrf_token(client, "/admin/fraud")
    refused = await client.post(
        f"{page}/redemptions/{redemption}/code",
        data={"_csrf_token": token},
        follow_redirects=False,
    )
    assert refused.status_code == 403

    await make_staff("cat", "CATALOG")
    await client.post("/admin/logout", data={"_csrf_token": token}, follow_redirects=False)
    assert (await sign_in(client, "cat")).status_code == 303
    no_token = await client.post(f"{page}/redemptions/{redemption}/code", follow_redirects=False)
    assert no_token.status_code == 403
    wrong_offer = await post_form(
        client, f"/admin/offers/{other_offer}/redemptions/{redemption}/code", page, {}
    )
    assert wrong_offer.status_code == 404
    assert all(code not in wrong_offer.text for code in codes)
    assert await audit.list_entries(limit=5, action="offer.reveal_code") == []

"""Catalog staff in a real browser: an offer's limit, expiry and terms, and its redemptions."""

from __future__ import annotations

from datetime import UTC, datetime

from app.audit import service as audit
from app.offers import catalog as offers
from tests.admin.helpers import make_staff
from tests.browser.conftest import screenshot
from tests.browser.test_admin_browser import sign_in
from tests.conftest import run_sync
from tests.factories import make_user
from tests.offers.test_redeem import redeem

OFFERS = "{ partnerOffers { brand terms expiresAt perUserLimit } }"


def test_catalog_staff_set_limit_expiry_terms_and_see_redemptions(page) -> None:
    run_sync(make_staff("cat", "CATALOG"))
    sign_in(page, "cat")
    page.click("nav >> text=Offers")
    page.fill("#brand", "Bean There")
    page.fill("#title", "A free coffee")
    page.fill("#coinCost", "10")
    page.fill("#perUserLimit", "0")
    page.click("button:has-text('Create offer')")
    assert "1 to 1000 codes" in page.inner_text("#perUserLimit-error")
    assert page.input_value("#brand") == "Bean There"

    page.fill("#perUserLimit", "2")
    page.fill("#expiresAt", "2099-06-30T18:00")
    page.fill("#terms", "One per visit.")
    page.click("button:has-text('Create offer')")
    page.wait_for_selector(".flash.success")
    assert "2 code(s) per user" in page.inner_text("[data-testid=offer-terms-summary]")
    assert "expires 2099-06-30 18:00 UTC" in page.inner_text("[data-testid=offer-terms-summary]")

    [offer] = run_sync(offers.offers_by_ids()).values()
    assert (offer.per_user_limit, offer.expires_at, offer.terms) == (
        2,
        datetime(2099, 6, 30, 18, tzinfo=UTC),
        "One per visit.",
    )
    response = page.request.post("/graphql", data={"query": OFFERS})
    assert response.json()["data"]["partnerOffers"] == [
        {
            "brand": "Bean There",
            "terms": "One per visit.",
            "expiresAt": "2099-06-30T18:00:00+00:00",
            "perUserLimit": 2,
        }
    ]

    async def someone_redeems() -> str:
        await offers.add_codes(offer.id, ["BEAN-SECRET-0001"])
        viewer = await make_user("vera", coins=10)
        return (await redeem(viewer.id, offer.id)).redemption.code

    code = run_sync(someone_redeems())
    page.reload()
    row = page.locator("tr[data-redemption]")
    assert "@vera" in row.inner_text()
    assert row.locator("[data-testid=code-masked]").inner_text() == "••••0001"
    assert code not in page.content()

    row.locator("button:has-text('Show code')").click()
    page.wait_for_selector("[data-testid=code-revealed]")
    assert page.inner_text("[data-testid=code-revealed]") == code
    assert page.locator("a:has-text('Previous page')").count() == 0
    [entry] = run_sync(audit.list_entries(limit=5, action="offer.reveal_code"))
    assert entry.actor == "cat"
    screenshot(page, "offer-redemptions")

"""Catalog staff in a real browser: a gift is created and re-priced, an offer gets its codes."""

from __future__ import annotations

from app.gifts import catalog
from app.offers import catalog as offers
from tests.admin.helpers import make_staff
from tests.browser.conftest import screenshot
from tests.browser.test_admin_browser import sign_in
from tests.conftest import run_sync
from tests.factories import make_gift

GIFTS = "{ gifts { slug name coinCost diamondValue retired } }"


def _gifts_over_http(page) -> list[dict]:
    response = page.request.post("/graphql", data={"query": GIFTS})
    assert response.ok, response.text()
    body = response.json()
    assert "errors" not in body, body
    return body["data"]["gifts"]


def test_catalog_staff_create_and_reprice_a_gift(page) -> None:
    async def setup() -> None:
        await make_staff("cat", "CATALOG")
        await make_gift("rose", coins=1)

    run_sync(setup())
    sign_in(page, "cat")
    page.click("nav >> text=Gifts")
    page.wait_for_selector("h1:has-text('Gift catalog')")

    page.fill("#slug", "shooting-star")
    page.fill("#name", "Shooting Star")
    page.fill("#coinCost", "0")
    page.click("button:has-text('Create gift')")
    assert "A gift costs at least 1 coin." in page.inner_text("#coinCost-error")
    assert page.input_value("#slug") == "shooting-star"

    page.fill("#coinCost", "500")
    page.fill("#imageUrl", "https://cdn.example/star.png")
    page.click("button:has-text('Create gift')")
    page.wait_for_selector(".flash.success")
    assert "Shooting Star is in the catalog at 500 coins (250 diamonds" in page.inner_text(".flash")

    page.fill("#coinCost", "750")
    page.fill("#diamondValue", "400")
    page.click("button:has-text('Save as new version')")
    page.wait_for_selector(".flash.success")
    assert "now costs 750 coins (400 diamonds)" in page.inner_text(".flash")
    versions = page.locator("#versions tbody tr")
    assert versions.count() == 2
    assert "750" in versions.nth(0).inner_text()
    assert "cat" in versions.nth(0).inner_text()
    assert "500" in versions.nth(1).inner_text()

    star = next(g for g in _gifts_over_http(page) if g["slug"] == "shooting-star")
    assert star == {
        "slug": "shooting-star",
        "name": "Shooting Star",
        "coinCost": 750,
        "diamondValue": 400,
        "retired": False,
    }

    page.click("text=← Gift catalog")
    row = page.locator("tr[data-gift='shooting-star']")
    assert "750" in row.inner_text()
    screenshot(page, "catalog")

    page.goto(row.locator("a:has-text('Edit')").get_attribute("href") or "")
    page.check("input[name=confirm]")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("button:has-text('Retire gift')")
    page.wait_for_selector(".flash.success")
    assert [g["slug"] for g in _gifts_over_http(page)] == ["rose"]
    found = run_sync(catalog.find_by_slug("shooting-star"))
    assert found is not None
    assert found.retired


def test_catalog_staff_load_codes_into_an_offer(page) -> None:
    async def setup() -> None:
        await make_staff("cat", "CATALOG")

    run_sync(setup())
    sign_in(page, "cat")
    page.click("nav >> text=Offers")
    page.fill("#brand", "Bean There")
    page.fill("#title", "A free coffee")
    page.fill("#coinCost", "350")
    page.click("button:has-text('Create offer')")
    page.wait_for_selector(".flash.success")

    page.fill("#codes", "BEAN-1\nBEAN-2\nBEAN-2\n")
    page.set_input_files(
        "#file",
        files=[{"name": "codes.csv", "mimeType": "text/csv", "buffer": b"code\nBEAN-3\nBEAN-1\n"}],
    )
    page.click("button:has-text('Load codes')")
    page.wait_for_selector(".flash.success")
    assert "3 code(s) added. 2 duplicate(s) skipped: BEAN-1, BEAN-2." in page.inner_text(".flash")
    assert page.inner_text("[data-testid=codes-left]") == "3"

    [offer] = run_sync(offers.offers_by_ids()).values()
    assert offer.codes_left == 3
    page.click("text=← Partner offers")
    assert "3" in page.inner_text(f"tr[data-offer='{offer.id}'] [data-testid=codes-left]")
    screenshot(page, "offers")

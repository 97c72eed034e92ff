"""Catalog staff in a real browser: a gift with render data is created, edited into a
limited gift (a window and regions), and its version history shows who changed what."""

from __future__ import annotations

from datetime import UTC, datetime

from app.core.clock import set_clock
from app.gifts import catalog
from app.gifts.details import AnimationKind, AvailabilityKind
from tests.admin.helpers import make_staff
from tests.browser.conftest import screenshot
from tests.browser.test_admin_browser import sign_in
from tests.conftest import run_sync

GIFTS = """query ($country: String) {
  gifts(country: $country, includeUpcoming: true) {
    slug thumbnailUrl animationKind tier category sortOrder availability regions
  }
}"""


def _gifts_over_http(page, country: str | None) -> list[dict]:
    response = page.request.post(
        "/graphql", data={"query": GIFTS, "variables": {"country": country}}
    )
    assert response.ok, response.text()
    body = response.json()
    assert "errors" not in body, body
    return body["data"]["gifts"]


def test_catalog_staff_dress_a_gift_and_limit_it_to_a_season_and_regions(page) -> None:
    set_clock(lambda: datetime(2026, 11, 20, 12, 0, tzinfo=UTC))  # before the season
    run_sync(make_staff("cat", "CATALOG"))
    sign_in(page, "cat")
    page.click("nav >> text=Gifts")
    page.wait_for_selector("h1:has-text('Gift catalog')")

    page.fill("#slug", "comet")
    page.fill("#name", "Comet")
    page.fill("#coinCost", "500")
    page.fill("#thumbnailUrl", "http://cdn.example/comet.png")
    page.fill("#animationUrl", "https://cdn.example/comet.json")
    page.select_option("#animationKind", "LOTTIE")
    page.fill("#tier", "3")
    page.fill("#category", "space")
    page.fill("#sortOrder", "-1")
    page.click("button:has-text('Create gift')")
    assert "starts with https://" in page.inner_text("#thumbnailUrl-error")
    assert page.input_value("#category") == "space"  # what was typed is kept

    page.fill("#thumbnailUrl", "https://cdn.example/comet.png")
    page.click("button:has-text('Create gift')")
    page.wait_for_selector(".flash.success")
    assert page.input_value("#animationKind") == "LOTTIE"
    assert page.input_value("#tier") == "3"

    page.select_option("#availability", "SEASONAL")
    page.fill("#availableFrom", "2026-12-01T00:00")
    page.fill("#availableUntil", "2027-01-07T00:00")
    page.fill("#regions", "gb, us")
    page.click("button:has-text('Save as new version')")
    page.wait_for_selector(".flash.success")
    versions = page.locator("#versions tbody tr")
    assert versions.count() == 2
    newest = versions.nth(0).inner_text()
    assert "Seasonal from 2026-12-01 00:00:00 UTC until 2027-01-07 00:00:00 UTC in GB, US" in newest
    assert "cat" in newest
    assert "always" in versions.nth(1).inner_text()
    assert "Lottie" in versions.nth(1).inner_text()
    screenshot(page, "gift-render")

    gift = run_sync(catalog.find_by_slug("comet"))
    assert gift is not None
    assert gift.details.animation_kind is AnimationKind.LOTTIE
    assert gift.details.availability_kind is AvailabilityKind.SEASONAL
    assert _gifts_over_http(page, "FR") == []
    assert _gifts_over_http(page, "GB") == [
        {
            "slug": "comet",
            "thumbnailUrl": "https://cdn.example/comet.png",
            "animationKind": "LOTTIE",
            "tier": 3,
            "category": "space",
            "sortOrder": -1,
            "availability": "SEASONAL",
            "regions": ["GB", "US"],
        }
    ]

    page.click("text=← Gift catalog")
    row = page.locator("tr[data-gift='comet']")
    assert "space" in row.inner_text()
    assert "Seasonal from 2026-12-01" in row.inner_text()

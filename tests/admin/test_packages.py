"""Catalog staff manage coin packages; the API's coinPackages shows the change at once."""

from __future__ import annotations

from litestar.testing import AsyncTestClient

from app.audit import service as audit
from app.core.money import Money
from app.purchases import packages
from app.purchases.codes import Platform
from tests.admin.helpers import make_staff, post_form, sign_in
from tests.graphql.helpers import gql

PACKAGES = """
query ($platform: Platform!, $country: String) {
  coinPackages(platform: $platform, country: $country) { id coins price { amount currencyCode } }
}
"""


async def test_create_price_per_country_and_take_off_sale(client: AsyncTestClient) -> None:
    await make_staff("cat", "CATALOG")
    await sign_in(client, "cat")

    created = await post_form(
        client,
        "/admin/packages",
        "/admin/packages",
        {
            "platform": "WEB",
            "coins": "500",
            "bonus_coins": "25",
            "price": "4.49",
            "currency": "usd",
        },
    )
    assert created.status_code == 303
    [listing] = await packages.packages_on_sale(Platform.WEB)
    package_id = listing.id
    assert listing.price == Money(449, "USD")

    await post_form(
        client,
        f"/admin/packages/{package_id}/price",
        "/admin/packages",
        {"country": "gb", "price": "3.79", "currency": "GBP"},
    )
    uk = await gql(client, PACKAGES, {"platform": "WEB", "country": "GB"})
    assert uk["coinPackages"][0]["price"] == {"amount": "3.79", "currencyCode": "GBP"}

    await post_form(client, f"/admin/packages/{package_id}/deactivate", "/admin/packages", {})
    assert (await gql(client, PACKAGES, {"platform": "WEB"}))["coinPackages"] == []

    actions = [e.action for e in await audit.list_entries(limit=10, action="package.")]
    assert actions == ["package.deactivate", "package.country_price", "package.create"]


async def test_bad_price_is_shown_beside_the_field(client: AsyncTestClient) -> None:
    await make_staff("cat", "CATALOG")
    await sign_in(client, "cat")

    response = await post_form(
        client,
        "/admin/packages",
        "/admin/packages",
        {"platform": "IOS", "coins": "100", "price": "0.999", "currency": "USD"},
    )

    assert response.status_code == 400
    assert "at most 2 decimals" in response.text
    assert await packages.packages_on_sale(Platform.IOS) == []


async def test_moderators_cannot_edit_packages(client: AsyncTestClient) -> None:
    await make_staff("mod", "MODERATOR")
    await sign_in(client, "mod")

    assert (await client.get("/admin/packages")).status_code == 403

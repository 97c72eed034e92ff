"""The dashboard shows the day's and the month's figures, and user pages their activity."""

from __future__ import annotations

from litestar.testing import AsyncTestClient

from app.core.money import Money
from app.payouts import service as payouts
from app.purchases import buying, packages
from app.purchases.codes import Platform, Provider
from app.purchases.verifiers.sandbox import SandboxVerifier
from app.settings import Settings
from tests.admin.helpers import make_staff, sign_in
from tests.factories import give_diamonds, make_gift, make_stream, make_user, send


async def a_day_of_business(settings: Settings):
    viewer, creator = await make_user("vera"), await make_user("ana")
    package = await packages.create_package(
        platform=Platform.WEB, coins=700, price=Money(749, "USD")
    )
    await buying.purchase_coins(
        user_id=viewer.id,
        package_id=package.id,
        provider=Provider.SANDBOX,
        receipt="r-1",
        idempotency_key="k-1",
        verifier=SandboxVerifier(enabled=True),
    )
    stream = await make_stream(creator, "Evening")
    await send(viewer, stream, await make_gift("rose", coins=1, name="Rose"), 7)
    await give_diamonds(creator.id, 3_000)
    await payouts.request_payout(creator.id, 2_000, "p-1", economy=settings.economy)
    return viewer, creator


async def test_dashboard_figures(client: AsyncTestClient, settings: Settings) -> None:
    await a_day_of_business(settings)
    await make_staff("boss", "ADMIN")
    await sign_in(client, "boss")

    page = (await client.get("/admin")).text

    assert "7.49 USD" in page  # money taken today and this month
    assert '<td>Coins sold</td><td class="num">700</td>' in page
    assert '<td>Gifts sent</td><td class="num">1</td>' in page
    assert '<td>Pending</td><td class="num">1</td><td class="num">2,000</td>' in page
    assert page.count("<rect ") == 60  # two charts of 30 daily bars


async def test_user_page_shows_purchases_and_gifts(
    client: AsyncTestClient, settings: Settings
) -> None:
    viewer, creator = await a_day_of_business(settings)
    await make_staff("mod", "MODERATOR")
    await sign_in(client, "mod")

    viewer_page = (await client.get(f"/admin/users/{viewer.id}")).text
    creator_page = (await client.get(f"/admin/users/{creator.id}")).text

    assert "SANDBOX" in viewer_page
    assert "7.49 USD" in viewer_page
    assert "Rose x7" in viewer_page
    assert f'href="/admin/users/{creator.id}">ana<' in viewer_page
    assert f'href="/admin/users/{viewer.id}">vera<' in creator_page

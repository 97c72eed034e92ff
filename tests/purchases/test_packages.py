"""coinPackages, pricePerCoin, me.purchases, money spent this month and the demo seed."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from litestar.testing import AsyncTestClient

from app.core.clock import set_clock
from app.core.money import Money
from app.purchases import buying, refunds
from app.purchases import packages as package_service
from app.purchases.codes import Platform, Provider
from app.purchases.packages import price_per_coin
from app.seed import seed_coin_packages
from app.settings import Settings
from tests.conftest import Database
from tests.factories import make_user
from tests.graphql.helpers import gql, gql_response
from tests.purchases.conftest import Packages
from tests.purchases.helpers import buy, token_for

PACKAGES = """
query Packages($platform: Platform!, $country: String) {
  coinPackages(platform: $platform, country: $country) {
    id coins bonusCoins totalCoins platform
    price { amount currencyCode } pricePerCoin { amount currencyCode }
  }
}
"""


def test_price_per_coin_is_exact_and_rounded_half_up() -> None:
    assert price_per_coin(Money(99, "USD"), 70) == Decimal("0.0141")
    assert price_per_coin(Money(74, "USD"), 70) == Decimal("0.0106")
    assert price_per_coin(Money(100, "USD"), 100) == Decimal("0.0100")
    assert price_per_coin(Money(160, "JPY"), 70) == Decimal("2.29")
    # 0.00125 exactly: half up, never a float's 0.0012.
    assert price_per_coin(Money(1, "USD"), 8) == Decimal("0.0013")


async def test_packages_on_sale_cheapest_first_with_country_prices(
    client: AsyncTestClient, packages: Packages
) -> None:
    default = (await gql(client, PACKAGES, {"platform": "WEB"}))["coinPackages"]
    britain = (await gql(client, PACKAGES, {"platform": "WEB", "country": "gb"}))["coinPackages"]
    ios = (await gql(client, PACKAGES, {"platform": "IOS", "country": "FR"}))["coinPackages"]

    assert [(p["coins"], p["bonusCoins"], p["totalCoins"]) for p in default] == [
        (70, 0, 70),
        (700, 50, 750),
    ]
    assert default[0]["price"] == {"amount": "0.74", "currencyCode": "USD"}
    assert default[1]["pricePerCoin"] == {"amount": "0.0100", "currencyCode": "USD"}
    assert britain[0]["price"] == {"amount": "0.69", "currencyCode": "GBP"}
    assert britain[0]["pricePerCoin"] == {"amount": "0.0099", "currencyCode": "GBP"}
    assert britain[1]["price"] == {"amount": "7.49", "currencyCode": "USD"}  # no GB price
    assert [(p["platform"], p["price"]["amount"]) for p in ios] == [("IOS", "0.99")]


async def test_a_malformed_country_is_invalid_input(client: AsyncTestClient) -> None:
    body = await gql_response(client, PACKAGES, {"platform": "WEB", "country": "Britain"})

    assert body["data"] is None
    assert body["errors"][0]["extensions"] == {"code": "INVALID_INPUT", "field": "country"}


async def test_the_demo_seed_sells_cheaper_on_the_web_and_is_idempotent(db: Database) -> None:
    # ``db``: a fresh database of each kind (without it the test ran on whichever database
    # the test before it on its worker had left, and alone on none).
    first = await seed_coin_packages()
    again = await seed_coin_packages()
    web = await package_service.packages_on_sale(Platform.WEB)
    ios = await package_service.packages_on_sale(Platform.IOS)
    japan = await package_service.packages_on_sale(Platform.ANDROID, "JP")

    assert len(first) == 3
    assert again == []
    assert [p.coins for p in web] == [70, 350, 700, 1_400, 3_500, 7_000, 17_500]
    for on_web, in_store in zip(web, ios, strict=True):
        assert on_web.coins == in_store.coins
        discount = 1 - on_web.price.amount_minor / in_store.price.amount_minor
        assert 0.24 <= discount <= 0.26
    assert japan[0].price == Money(160, "JPY")


ME_PURCHASES = """
query Mine($first: Int!, $after: String) {
  me { purchases(first: $first, after: $after) {
    edges { cursor node { id coins status provider package { coins } } }
    pageInfo { hasNextPage endCursor }
  } }
}
"""


async def test_me_purchases_pages_newest_first(
    client: AsyncTestClient, settings: Settings, packages: Packages
) -> None:
    alice = await make_user()
    token = token_for(alice, settings)
    for n, package in enumerate((packages.web.id, packages.web_big.id, packages.web.id)):
        await buy(client, token, package=package, receipt=f"r-{n}", key=f"k-{n}")

    page = (await gql(client, ME_PURCHASES, {"first": 2}, token=token))["me"]["purchases"]
    rest = (
        await gql(
            client,
            ME_PURCHASES,
            {"first": 2, "after": page["pageInfo"]["endCursor"]},
            token=token,
        )
    )["me"]["purchases"]

    assert [e["node"]["coins"] for e in page["edges"]] == [70, 750]
    assert page["pageInfo"]["hasNextPage"] is True
    assert [e["node"]["coins"] for e in rest["edges"]] == [70]
    assert rest["pageInfo"]["hasNextPage"] is False
    assert page["edges"][0]["node"]["package"] == {"coins": 70}


async def test_money_spent_this_month_sums_completed_purchases_per_currency(
    packages: Packages,
) -> None:
    alice = await make_user()
    from app.purchases.verifiers.sandbox import SandboxVerifier

    async def buy_at(when: datetime, package_id: int, receipt: str) -> None:
        set_clock(lambda: when)
        await buying.purchase_coins(
            user_id=alice.id,
            package_id=package_id,
            provider=Provider.SANDBOX,
            receipt=receipt,
            idempotency_key=receipt,
            verifier=SandboxVerifier(enabled=True),
        )

    await buy_at(datetime(2026, 10, 31, 23, 59, tzinfo=UTC), packages.web.id, "last-month")
    await buy_at(datetime(2026, 11, 1, 0, 0, tzinfo=UTC), packages.web_big.id, "first-minute")
    await buy_at(datetime(2026, 11, 2, tzinfo=UTC), packages.web.id, "refunded")
    await buy_at(datetime(2026, 11, 3, tzinfo=UTC), packages.ios.id, "ios")
    euro = await package_service.create_package(
        platform=Platform.WEB, coins=70, price=Money(69, "EUR")
    )
    await buy_at(datetime(2026, 11, 4, tzinfo=UTC), euro.id, "euro")
    await refunds.refund_purchase(Provider.SANDBOX, "refunded", reason="refund")
    set_clock(lambda: datetime(2026, 11, 30, 23, 59, tzinfo=UTC))

    assert await buying.money_spent_this_month(alice.id) == [
        Money(69, "EUR"),
        Money(749 + 99, "USD"),
    ]
    assert await buying.money_spent_this_month((await make_user()).id) == []

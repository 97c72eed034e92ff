"""Purchases: coin packages on sale, ``purchaseCoins`` and the viewer's purchases."""

from __future__ import annotations

from contextlib import suppress
from datetime import datetime

import strawberry

from app.core.ids import decode_id, encode_id
from app.graphql.context import CoinsInfo, require_viewer
from app.graphql.errors import MutationError, run_mutation
from app.graphql.pagination import PageInfo, check_page_size, decode_cursor, encode_cursor
from app.graphql.types.common import Money
from app.graphql.types.wallet import Wallet
from app.purchases import buying, codes, packages
from app.purchases.buying import PurchaseRecord
from app.purchases.packages import PackageRecord
from app.purchases.verifiers import verifier_for

Platform = strawberry.enum(codes.Platform, name="Platform")
PaymentProvider = strawberry.enum(codes.Provider, name="PaymentProvider")
PurchaseStatus = strawberry.enum(codes.PurchaseStatus, name="PurchaseStatus")

PURCHASE_CURSOR = "CoinPurchase"


@strawberry.type
class CoinPackage:
    record: strawberry.Private[PackageRecord]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(encode_id("CoinPackage", self.record.id))

    @strawberry.field(description="Coins the package is sold for, bonus not included.")
    def coins(self) -> int:
        return self.record.coins

    @strawberry.field(description="Extra coins on top of coins.")
    def bonus_coins(self) -> int:
        return self.record.bonus_coins

    @strawberry.field(description="Coins credited: coins plus bonus coins.")
    def total_coins(self) -> int:
        return self.record.total_coins

    @strawberry.field(description="The price in the requested country, else the default price.")
    def price(self) -> Money:
        return Money.of(self.record.price)

    @strawberry.field(
        description="Price of one coin, bonus included, with two more decimals than the "
        "currency uses (e.g. 0.0141 USD), rounded half up."
    )
    def price_per_coin(self) -> Money:
        return Money(amount=self.record.price_per_coin, currency_code=self.record.price.currency)

    @strawberry.field
    def platform(self) -> Platform:
        return self.record.platform


@strawberry.type
class CoinPurchase:
    record: strawberry.Private[PurchaseRecord]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(encode_id("CoinPurchase", self.record.id))

    @strawberry.field
    async def package(self, info: CoinsInfo) -> CoinPackage:
        package = await info.context.loaders.package_by_id.load(self.record.package_id)
        assert package is not None  # a purchase's package is never deleted
        return CoinPackage(record=package)

    @strawberry.field(description="Coins credited, bonus included.")
    def coins(self) -> int:
        return self.record.total_coins

    @strawberry.field(description="The part of coins that was bonus.")
    def bonus_coins(self) -> int:
        return self.record.bonus_coins

    @strawberry.field(description="What the buyer paid.")
    def price(self) -> Money:
        return Money.of(self.record.price)

    @strawberry.field
    def provider(self) -> PaymentProvider:
        return self.record.provider

    @strawberry.field(description="REFUNDED once a refund or chargeback took the coins back.")
    def status(self) -> PurchaseStatus:
        return self.record.status

    @strawberry.field
    def created_at(self) -> datetime:
        return self.record.created_at

    @strawberry.field
    def refunded_at(self) -> datetime | None:
        return self.record.refunded_at


@strawberry.type
class CoinPurchaseEdge:
    node: CoinPurchase
    cursor: str


@strawberry.type
class CoinPurchaseConnection:
    edges: list[CoinPurchaseEdge]
    page_info: PageInfo


async def purchase_connection(
    info: CoinsInfo, user_id: int, first: int, after: str | None
) -> CoinPurchaseConnection:
    limit = check_page_size(first, info.context.settings.graphql.max_page_size)
    rows = await buying.list_purchases(
        user_id, limit=limit + 1, before_id=decode_cursor(PURCHASE_CURSOR, after)
    )
    edges = [
        CoinPurchaseEdge(
            node=CoinPurchase(record=row), cursor=encode_cursor(PURCHASE_CURSOR, row.id)
        )
        for row in rows[:limit]
    ]
    return CoinPurchaseConnection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=len(rows) > limit, end_cursor=edges[-1].cursor if edges else None
        ),
    )


@strawberry.input
class PurchaseCoinsInput:
    package_id: strawberry.ID
    provider: PaymentProvider
    receipt: str = strawberry.field(
        description="The store's proof of payment: a signed transaction, a payment id, or for "
        "SANDBOX any unique string."
    )
    idempotency_key: str


@strawberry.type
class PurchaseCoinsPayload:
    purchase: CoinPurchase | None = None
    wallet: Wallet | None = None
    errors: list[MutationError] = strawberry.field(default_factory=list)


@strawberry.type
class PurchasesQuery:
    @strawberry.field(
        description="Coin bundles on sale for this platform and country, cheapest first."
    )
    async def coin_packages(
        self, platform: Platform = codes.Platform.WEB, country: str | None = None
    ) -> list[CoinPackage]:
        return [CoinPackage(record=p) for p in await packages.packages_on_sale(platform, country)]


@strawberry.type
class PurchasesMutation:
    @strawberry.mutation
    async def purchase_coins(
        self, info: CoinsInfo, input: PurchaseCoinsInput
    ) -> PurchaseCoinsPayload:
        async def action() -> PurchaseCoinsPayload:
            viewer = await require_viewer(info)
            provider = codes.Provider(input.provider)
            purchase = await buying.purchase_coins(
                user_id=viewer.id,
                package_id=decode_id("CoinPackage", input.package_id, "packageId"),
                provider=provider,
                receipt=input.receipt,
                idempotency_key=input.idempotency_key,
                verifier=verifier_for(provider, info.context.settings),
            )
            # Balances loaded earlier in this request predate the credit.
            with suppress(KeyError):  # strawberry's clear() raises for a key never loaded
                info.context.loaders.balances_by_user_id.clear(viewer.id)
            return PurchaseCoinsPayload(
                purchase=CoinPurchase(record=purchase), wallet=Wallet(user_id=viewer.id)
            )

        return await run_mutation(PurchaseCoinsPayload, action)

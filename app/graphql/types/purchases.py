"""Purchases: coin packages on sale, ``purchaseCoins`` and the viewer's purchases."""

from __future__ import annotations

from datetime import datetime

import strawberry

from app.graphql import ids
from app.graphql.context import CoinsInfo, require_viewer_id
from app.graphql.errors import MutationError
from app.graphql.mutations import mutation
from app.graphql.pagination import Connection, Cursor, paginate
from app.graphql.types.common import Money
from app.graphql.types.wallet import Wallet
from app.purchases import buying, codes, packages
from app.purchases import checkout as checkouts
from app.purchases.buying import PurchaseRecord
from app.purchases.checkout import StartedCheckout
from app.purchases.packages import PackageRecord
from app.purchases.verifiers import verifier_for

Platform = strawberry.enum(codes.Platform, name="Platform")
PaymentProvider = strawberry.enum(codes.Provider, name="PaymentProvider")
PurchaseStatus = strawberry.enum(codes.PurchaseStatus, name="PurchaseStatus")
CheckoutStatus = strawberry.enum(codes.CheckoutStatus, name="CheckoutStatus")

PURCHASES: Cursor[PurchaseRecord, int] = Cursor("CoinPurchase", lambda purchase: purchase.id)


@strawberry.type
class CoinPackage:
    record: strawberry.Private[PackageRecord]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return ids.COIN_PACKAGE.encode(self.record.id)

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
        return ids.COIN_PURCHASE.encode(self.record.id)

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

    @strawberry.field(
        description="True when it arrived already paid past the buyer's purchase limits: "
        "credited all the same, and further checkouts wait until the period has passed."
    )
    def over_limit(self) -> bool:
        return self.record.over_limit


async def purchases_of(
    info: CoinsInfo, user_id: int, first: int, after: str | None
) -> Connection[CoinPurchase]:
    """The user's coin purchases, newest first."""
    return await paginate(
        info,
        first,
        after,
        PURCHASES,
        lambda limit, before: buying.list_purchases(user_id, limit=limit, before_id=before),
        lambda purchase: CoinPurchase(record=purchase),
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

    @classmethod
    def of(cls, purchase: PurchaseRecord) -> PurchaseCoinsPayload:
        return cls(purchase=CoinPurchase(record=purchase), wallet=Wallet(user_id=purchase.user_id))


@strawberry.type(
    description="A web checkout: confirm its PaymentIntent with Stripe.js (clientSecret); "
    "the coins arrive when Stripe reports the payment."
)
class WebCheckout:
    started: strawberry.Private[StartedCheckout]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return ids.CHECKOUT.encode(self.started.checkout.id)

    @strawberry.field(description="The Stripe PaymentIntent id (pi_...).")
    def payment_intent_id(self) -> str:
        return self.started.checkout.payment_intent_id

    @strawberry.field(description="For Stripe.js confirmPayment; keep it out of logs and URLs.")
    def client_secret(self) -> str:
        return self.started.client_secret

    @strawberry.field(description="The price bound to this checkout: exactly what is charged.")
    def amount(self) -> Money:
        return Money.of(self.started.checkout.price)

    @strawberry.field
    async def package(self, info: CoinsInfo) -> CoinPackage:
        package = await info.context.loaders.package_by_id.load(self.started.checkout.package_id)
        assert package is not None  # a checkout's package is never deleted
        return CoinPackage(record=package)

    @strawberry.field
    def status(self) -> CheckoutStatus:
        return self.started.checkout.status


@strawberry.input
class CreateCheckoutInput:
    package_id: strawberry.ID = strawberry.field(description="A WEB package.")
    country: str | None = strawberry.field(
        default=None, description="ISO 3166 alpha-2: its own price where the package has one."
    )
    idempotency_key: str = strawberry.field(
        description="Same key and input: the same checkout. Pass it to purchaseCoins "
        "(STRIPE, the PaymentIntent id) to read the purchase once paid."
    )


@strawberry.type
class CreateCheckoutPayload:
    checkout: WebCheckout | None = None
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
    @mutation
    async def purchase_coins(
        self, info: CoinsInfo, input: PurchaseCoinsInput
    ) -> PurchaseCoinsPayload:
        purchase = await buying.purchase_coins(
            user_id=await require_viewer_id(info),
            package_id=ids.COIN_PACKAGE.decode(input.package_id, "packageId"),
            provider=input.provider,
            receipt=input.receipt,
            idempotency_key=input.idempotency_key,
            verifier=verifier_for(input.provider, info.context.settings),
            limits=info.context.settings.purchase_limits,
        )
        return PurchaseCoinsPayload.of(purchase)

    @mutation
    async def create_checkout(
        self, info: CoinsInfo, input: CreateCheckoutInput
    ) -> CreateCheckoutPayload:
        """Start a web purchase: a Stripe PaymentIntent for the package's price in that
        country. Refused for minors, frozen accounts and over the purchase limits."""
        started = await checkouts.create_checkout(
            user_id=await require_viewer_id(info),
            package_id=ids.COIN_PACKAGE.decode(input.package_id, "packageId"),
            country=input.country,
            idempotency_key=input.idempotency_key,
            payments=info.context.settings.payments,
            limits=info.context.settings.purchase_limits,
        )
        return CreateCheckoutPayload(checkout=WebCheckout(started=started))

"""Partner offers and ``redeemOffer``."""

from __future__ import annotations

from datetime import datetime

import strawberry

from app.graphql import ids
from app.graphql.context import CoinsInfo, require_viewer_id
from app.graphql.errors import MutationError
from app.graphql.mutations import mutation
from app.graphql.types.wallet import Wallet
from app.offers import catalog as offers
from app.offers import redeeming
from app.offers.catalog import OfferRecord
from app.offers.redeeming import RedemptionRecord


@strawberry.type
class PartnerOffer:
    record: strawberry.Private[OfferRecord]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return ids.PARTNER_OFFER.encode(self.record.id)

    @strawberry.field
    def brand(self) -> str:
        return self.record.brand

    @strawberry.field
    def title(self) -> str:
        return self.record.title

    @strawberry.field
    def coin_cost(self) -> int:
        return self.record.coin_cost

    @strawberry.field
    def available(self) -> bool:
        return self.record.available


@strawberry.type
class Redemption:
    record: strawberry.Private[RedemptionRecord]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return ids.REDEMPTION.encode(self.record.id)

    @strawberry.field
    async def offer(self) -> PartnerOffer:
        found = await offers.offers_by_ids([self.record.offer_id])
        return PartnerOffer(record=found[self.record.offer_id])

    @strawberry.field
    def code(self) -> str:
        return self.record.code

    @strawberry.field
    def coins(self) -> int:
        return self.record.coins

    @strawberry.field
    def created_at(self) -> datetime:
        return self.record.created_at


@strawberry.input
class RedeemOfferInput:
    offer_id: strawberry.ID
    idempotency_key: str


@strawberry.type
class RedeemOfferPayload:
    redemption: Redemption | None = None
    wallet: Wallet | None = None
    errors: list[MutationError] = strawberry.field(default_factory=list)

    @classmethod
    def of(cls, redemption: RedemptionRecord) -> RedeemOfferPayload:
        return cls(
            redemption=Redemption(record=redemption), wallet=Wallet(user_id=redemption.user_id)
        )


@strawberry.type
class OffersQuery:
    @strawberry.field(description="Partner-brand offers that coins can be redeemed for.")
    async def partner_offers(self) -> list[PartnerOffer]:
        return [PartnerOffer(record=offer) for offer in await offers.list_offers()]


@strawberry.type
class OffersMutation:
    @mutation
    async def redeem_offer(self, info: CoinsInfo, input: RedeemOfferInput) -> RedeemOfferPayload:
        redeemed = await redeeming.redeem_offer(
            user_id=await require_viewer_id(info),
            offer_id=ids.PARTNER_OFFER.decode(input.offer_id, "offerId"),
            idempotency_key=input.idempotency_key,
            platform=info.context.settings.spending,
        )
        return RedeemOfferPayload.of(redeemed.redemption)

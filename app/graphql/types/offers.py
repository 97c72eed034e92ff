"""Partner offers and ``redeemOffer``."""

from __future__ import annotations

from datetime import datetime

import strawberry

from app.graphql import ids
from app.graphql.context import CoinsInfo, require_viewer_id
from app.graphql.errors import MutationError
from app.graphql.mutations import mutation
from app.graphql.pagination import Connection, Cursor, paginate
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

    @strawberry.field(description="False when inactive, expired or out of codes.")
    def available(self) -> bool:
        return self.record.available

    @strawberry.field(description="The partner's terms and conditions; empty when none.")
    def terms(self) -> str:
        return self.record.terms

    @strawberry.field(description="When the offer stops being listed and redeemable; null: never.")
    def expires_at(self) -> datetime | None:
        return self.record.expires_at

    @strawberry.field(description="How many codes of this offer one user may redeem.")
    def per_user_limit(self) -> int:
        return self.record.per_user_limit


@strawberry.type
class Redemption:
    record: strawberry.Private[RedemptionRecord]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return ids.REDEMPTION.encode(self.record.id)

    @strawberry.field
    async def offer(self, info: CoinsInfo) -> PartnerOffer:
        record = await info.context.loaders.offer_by_id.load(self.record.offer_id)
        if record is None:  # offers are never deleted, and a redemption names one
            raise LookupError(f"redemption {self.record.id} names a missing offer")
        return PartnerOffer(record=record)

    @strawberry.field
    def code(self) -> str:
        return self.record.code

    @strawberry.field
    def coins(self) -> int:
        return self.record.coins

    @strawberry.field
    def created_at(self) -> datetime:
        return self.record.created_at


REDEMPTIONS: Cursor[RedemptionRecord, int] = Cursor("Redemption", lambda row: row.id)


async def redemptions_of(
    info: CoinsInfo, user_id: int, first: int, after: str | None
) -> Connection[Redemption]:
    """The user's redemptions, newest first (the caller checks it is the user asking)."""
    return await paginate(
        info,
        first,
        after,
        REDEMPTIONS,
        lambda limit, before: redeeming.list_redemptions(user_id, limit=limit, before_id=before),
        lambda redemption: Redemption(record=redemption),
    )


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

"""The published rates: what a creator earns per coin and what a diamond pays out."""

from __future__ import annotations

from decimal import Decimal

import strawberry

from app.graphql.context import CoinsInfo
from app.graphql.types.common import Money


@strawberry.type
class EconomyRates:
    creator_share: Decimal = strawberry.field(
        description=(
            "Share of a gift's coin value that the creator receives as diamonds, from 0 to 1."
        )
    )
    diamond_value: Money = strawberry.field(description="What one diamond pays out.")
    minimum_payout_diamonds: int
    maximum_daily_payout_diamonds: int
    earnings_maturation_days: int = strawberry.field(
        description=(
            "Days after a gift before its diamonds can be paid out (0: at once). Until then "
            "they are maturing, and a refund of the coins behind the gift reverses them."
        )
    )


@strawberry.type
class EconomyQuery:
    @strawberry.field(
        description="The published rates: coins per gift, diamonds per coin, cash per diamond."
    )
    def economy(self, info: CoinsInfo) -> EconomyRates:
        rates = info.context.settings.economy
        share = rates.creator_share
        return EconomyRates(
            creator_share=Decimal(share.numerator) / Decimal(share.denominator),
            diamond_value=Money.of(rates.diamond_value),
            minimum_payout_diamonds=rates.minimum_payout_diamonds,
            maximum_daily_payout_diamonds=rates.maximum_daily_payout_diamonds,
            earnings_maturation_days=rates.earnings_maturation_days,
        )

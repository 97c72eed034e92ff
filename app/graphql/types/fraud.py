"""Fraud: ``reportGift``, a creator reporting a gift sent to their stream."""

from __future__ import annotations

import strawberry

from app.fraud import review
from app.graphql import ids
from app.graphql.context import CoinsInfo, require_viewer_id
from app.graphql.errors import MutationError
from app.graphql.mutations import mutation


@strawberry.input
class ReportGiftInput:
    gift_event_id: strawberry.ID
    reason: str


@strawberry.type
class ReportGiftPayload:
    reported: bool = False
    errors: list[MutationError] = strawberry.field(default_factory=list)


@strawberry.type
class FraudMutation:
    @mutation(description="The host of a stream reports a gift sent to it; moderators review it.")
    async def report_gift(self, info: CoinsInfo, input: ReportGiftInput) -> ReportGiftPayload:
        reported = await review.report_gift(
            await require_viewer_id(info),
            ids.GIFT_EVENT.decode(input.gift_event_id, "giftEventId"),
            input.reason,
        )
        return ReportGiftPayload(reported=reported)

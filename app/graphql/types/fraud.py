"""Fraud: ``reportGift``, a creator reporting a gift sent to their stream."""

from __future__ import annotations

import strawberry

from app.core.errors import DomainError, ErrorCode
from app.core.ids import decode_id
from app.fraud import review
from app.graphql.context import CoinsInfo, require_viewer
from app.graphql.errors import MutationError, run_mutation


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
    @strawberry.mutation(
        description="The host of a stream reports a gift sent to it; moderators review it."
    )
    async def report_gift(self, info: CoinsInfo, input: ReportGiftInput) -> ReportGiftPayload:
        async def action() -> ReportGiftPayload:
            viewer = await require_viewer(info)
            try:
                event_id = decode_id("GiftEvent", input.gift_event_id, "giftEventId")
            except DomainError:
                raise DomainError(
                    ErrorCode.NOT_FOUND, "No such gift event.", "giftEventId"
                ) from None
            reported = await review.report_gift(viewer.id, event_id, input.reason)
            return ReportGiftPayload(reported=reported)

        return await run_mutation(ReportGiftPayload, action)

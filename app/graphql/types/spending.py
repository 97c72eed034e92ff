"""Responsible spending: what a user spent (UTC periods) and the limits they set."""

from __future__ import annotations

from datetime import datetime

import strawberry

from app.graphql.context import CoinsInfo, require_viewer_id
from app.graphql.errors import MutationError
from app.graphql.mutations import mutation
from app.graphql.types.common import Money
from app.purchases import buying as purchases
from app.spending import service as spending
from app.spending.service import Limits, LimitsState


@strawberry.type
class SpendingLimits:
    daily: int | None = strawberry.field(
        description="Coins per period; null means no limit of the user's own."
    )
    weekly: int | None
    monthly: int | None
    pending_change_applies_at: datetime | None = strawberry.field(
        description="A raised limit waits this long before it applies; a lowered one "
        "applies at once."
    )
    pending_daily: int | None = strawberry.field(
        default=None, description="The daily limit once the pending change applies."
    )
    pending_weekly: int | None = None
    pending_monthly: int | None = None

    @classmethod
    def of(cls, state: LimitsState) -> SpendingLimits:
        pending = state.pending
        return cls(
            daily=state.current.daily,
            weekly=state.current.weekly,
            monthly=state.current.monthly,
            pending_change_applies_at=state.pending_applies_at,
            pending_daily=pending.daily if pending else None,
            pending_weekly=pending.weekly if pending else None,
            pending_monthly=pending.monthly if pending else None,
        )


@strawberry.type
class SpendingSummary:
    user_id: strawberry.Private[int]

    @strawberry.field
    async def coins_spent_today(self, info: CoinsInfo) -> int:
        return (await info.context.loaders.spending_totals_by_user_id.load(self.user_id)).today

    @strawberry.field
    async def coins_spent_this_week(self, info: CoinsInfo) -> int:
        return (await info.context.loaders.spending_totals_by_user_id.load(self.user_id)).this_week

    @strawberry.field
    async def coins_spent_this_month(self, info: CoinsInfo) -> int:
        return (await info.context.loaders.spending_totals_by_user_id.load(self.user_id)).this_month

    @strawberry.field(
        description="Real money paid for coins this UTC month, per currency; refunds excluded."
    )
    async def money_spent_this_month(self) -> list[Money]:
        return [Money.of(spent) for spent in await purchases.money_spent_this_month(self.user_id)]

    @strawberry.field
    async def limits(self) -> SpendingLimits:
        return SpendingLimits.of(await spending.limits_of(self.user_id))


@strawberry.input
class SetSpendingLimitsInput:
    daily: int | None = None
    weekly: int | None = None
    monthly: int | None = None


@strawberry.type
class SpendingLimitsPayload:
    limits: SpendingLimits | None = None
    errors: list[MutationError] = strawberry.field(default_factory=list)


@strawberry.type
class SpendingMutation:
    @mutation
    async def set_spending_limits(
        self, info: CoinsInfo, input: SetSpendingLimitsInput
    ) -> SpendingLimitsPayload:
        state = await spending.set_limits(
            await require_viewer_id(info),
            Limits(input.daily, input.weekly, input.monthly),
            raise_delay_s=info.context.settings.spending.limit_raise_delay_s,
        )
        return SpendingLimitsPayload(limits=SpendingLimits.of(state))

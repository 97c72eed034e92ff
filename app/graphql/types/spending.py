"""Responsible spending: what a user spent (UTC periods) and the limits they set."""

from __future__ import annotations

from datetime import datetime

import strawberry

from app.core import money
from app.graphql.context import CoinsInfo, require_viewer_id
from app.graphql.errors import MutationError
from app.graphql.mutations import mutation
from app.graphql.types.common import Money
from app.purchases import buying as purchases
from app.purchases import limits as purchase_limits
from app.purchases.limits import Allowance
from app.spending import service as spending
from app.spending.service import Limits, LimitsState

PurchaseLimitKind = strawberry.enum(purchase_limits.LimitKind, name="PurchaseLimitKind")


def _money(amount_minor: int | None, currency: str) -> Money | None:
    return None if amount_minor is None else Money.of(money.Money(amount_minor, currency))


@strawberry.type(
    description="Limits on money paid for coins, in one reference currency (see the README "
    "for the conversion rates). A lowered limit applies at once, a raised one after 24 hours."
)
class PurchaseLimits:
    daily: Money | None = strawberry.field(description="Null means no limit of the user's own.")
    weekly: Money | None
    monthly: Money | None
    pending_change_applies_at: datetime | None
    pending_daily: Money | None = None
    pending_weekly: Money | None = None
    pending_monthly: Money | None = None

    @classmethod
    def of(cls, state: LimitsState, currency: str) -> PurchaseLimits:
        pending = state.pending
        return cls(
            daily=_money(state.current.daily, currency),
            weekly=_money(state.current.weekly, currency),
            monthly=_money(state.current.monthly, currency),
            pending_change_applies_at=state.pending_applies_at,
            pending_daily=_money(pending.daily, currency) if pending else None,
            pending_weekly=_money(pending.weekly, currency) if pending else None,
            pending_monthly=_money(pending.monthly, currency) if pending else None,
        )


@strawberry.type(
    description="What the user may still pay for coins now, in the reference currency: "
    "query it before showing the store. Money paid and open (unpaid, unexpired) web "
    "checkouts count. Null fields have no limit."
)
class PurchaseAllowance:
    allowance: strawberry.Private[Allowance]

    @strawberry.field(description="Left under the daily limit.")
    def daily(self) -> Money | None:
        return _money(self.allowance.daily, self.allowance.currency)

    @strawberry.field
    def weekly(self) -> Money | None:
        return _money(self.allowance.weekly, self.allowance.currency)

    @strawberry.field
    def monthly(self) -> Money | None:
        return _money(self.allowance.monthly, self.allowance.currency)

    @strawberry.field(description="Left today under the platform's cap on new accounts.")
    def new_account(self) -> Money | None:
        return _money(self.allowance.new_account, self.allowance.currency)

    @strawberry.field(description="The least of the above: a package above it is refused.")
    def remaining(self) -> Money | None:
        return _money(self.allowance.remaining, self.allowance.currency)

    @strawberry.field(description="The limit that leaves the least; null with no limit.")
    def binding_limit(self) -> PurchaseLimitKind | None:
        return self.allowance.binding

    @strawberry.field(
        description="False when the limits leave nothing to buy until a period passes "
        "(limits only: minors and frozen accounts cannot buy at all)."
    )
    def can_purchase(self) -> bool:
        return self.allowance.remaining is None or self.allowance.remaining > 0


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

    async def _purchase_totals(self, info: CoinsInfo) -> purchase_limits.PurchaseTotals:
        return await purchase_limits.purchase_totals(
            self.user_id, info.context.settings.purchase_limits
        )

    @strawberry.field(
        description="Money paid for coins today (UTC), in the purchase limits' reference "
        "currency; refunds excluded."
    )
    async def money_spent_on_purchases_today(self, info: CoinsInfo) -> Money:
        totals = await self._purchase_totals(info)
        return Money.of(money.Money(totals.today, totals.currency))

    @strawberry.field(description="Money paid for coins this ISO week (UTC), reference currency.")
    async def money_spent_on_purchases_this_week(self, info: CoinsInfo) -> Money:
        totals = await self._purchase_totals(info)
        return Money.of(money.Money(totals.this_week, totals.currency))

    @strawberry.field(description="Money paid for coins this month (UTC), reference currency.")
    async def money_spent_on_purchases_this_month(self, info: CoinsInfo) -> Money:
        totals = await self._purchase_totals(info)
        return Money.of(money.Money(totals.this_month, totals.currency))

    @strawberry.field(description="The user's limits on buying coins.")
    async def purchase_limits(self, info: CoinsInfo) -> PurchaseLimits:
        currency = info.context.settings.purchase_limits.reference_currency
        return PurchaseLimits.of(await purchase_limits.limits_of(self.user_id), currency)


@strawberry.input
class SetSpendingLimitsInput:
    daily: int | None = None
    weekly: int | None = None
    monthly: int | None = None


@strawberry.type
class SpendingLimitsPayload:
    limits: SpendingLimits | None = None
    errors: list[MutationError] = strawberry.field(default_factory=list)


@strawberry.input(
    description="Minor units (cents) of the reference currency per period; null: no limit."
)
class SetPurchaseLimitsInput:
    daily: int | None = None
    weekly: int | None = None
    monthly: int | None = None


@strawberry.type
class PurchaseLimitsPayload:
    limits: PurchaseLimits | None = None
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

    @mutation
    async def set_purchase_limits(
        self, info: CoinsInfo, input: SetPurchaseLimitsInput
    ) -> PurchaseLimitsPayload:
        settings = info.context.settings
        state = await purchase_limits.set_limits(
            await require_viewer_id(info),
            Limits(input.daily, input.weekly, input.monthly),
            raise_delay_s=settings.spending.limit_raise_delay_s,
        )
        currency = settings.purchase_limits.reference_currency
        return PurchaseLimitsPayload(limits=PurchaseLimits.of(state, currency))

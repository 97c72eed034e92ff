"""Payouts: ``me.earnings``, ``me.payouts``, ``requestPayout``, ``cancelPayout`` and
``startPayoutOnboarding``."""

from __future__ import annotations

from datetime import datetime

import strawberry

from app.graphql import ids
from app.graphql.context import CoinsInfo, require_viewer_id
from app.graphql.errors import MutationError
from app.graphql.mutations import mutation
from app.graphql.pagination import Connection, Cursor, paginate
from app.graphql.types.common import Money
from app.ledger.codes import Currency
from app.payouts import accounts as payout_accounts
from app.payouts import daily_cap, maturation
from app.payouts import queries as payout_queries
from app.payouts import records as payout_records
from app.payouts import service as payouts
from app.payouts.codes import PayoutStatus as DomainPayoutStatus

PayoutStatus = strawberry.enum(DomainPayoutStatus, name="PayoutStatus")
PayoutAccountStatus = strawberry.enum(payout_accounts.AccountStatus, name="PayoutAccountStatus")

PAYOUTS: Cursor[payout_records.PayoutRecord, int] = Cursor("Payout", lambda payout: payout.id)


@strawberry.type
class Payout:
    record: strawberry.Private[payout_records.PayoutRecord]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return ids.PAYOUT.encode(self.record.id)

    @strawberry.field
    def diamonds(self) -> int:
        return self.record.diamonds

    @strawberry.field(
        description="Cash for the diamonds at the rate when requested, rounded down to a cent."
    )
    def amount(self) -> Money:
        return Money.of(self.record.amount)

    @strawberry.field
    def status(self) -> PayoutStatus:
        return self.record.status

    @strawberry.field
    def requested_at(self) -> datetime:
        return self.record.requested_at

    @strawberry.field
    def decided_at(self) -> datetime | None:
        return self.record.decided_at

    @strawberry.field(description="Why staff rejected the payout; null otherwise.")
    def rejection_reason(self) -> str | None:
        if self.record.status is DomainPayoutStatus.REJECTED:
            return self.record.reason
        return None


@strawberry.type
class CreatorEarnings:
    diamonds: int = strawberry.field(description="Available plus maturing plus pending diamonds.")
    available_diamonds: int = strawberry.field(
        description=(
            "Diamonds that can be requested now: not held by a pending payout, and from "
            "gifts older than the maturation window (economy.earningsMaturationDays)."
        )
    )
    pending_diamonds: int = strawberry.field(
        description="Diamonds held by payouts that are pending or approved but not yet paid."
    )
    cash_value: Money = strawberry.field(
        description="What the available diamonds pay out at the published rate, rounded down."
    )
    minimum_payout_diamonds: int
    maturing_diamonds: int = strawberry.field(
        description=(
            "Diamonds from gifts younger than the maturation window: in the wallet, not yet "
            "requestable, and reversed if the coins that paid for the gift are refunded."
        )
    )
    next_maturity_at: datetime | None = strawberry.field(
        description="When the oldest maturing diamonds become available; null when none are."
    )
    creator_id: strawberry.Private[int] = 0

    @strawberry.field(description="Where the creator's payout account (Stripe) stands.")
    async def payout_account(self, info: CoinsInfo) -> PayoutAccount:
        return PayoutAccount.of(
            await payout_accounts.account_state(self.creator_id, info.context.settings.payouts)
        )

    async def _next(self, info: CoinsInfo) -> daily_cap.NextPayout:
        settings = info.context.settings
        if not (
            await payout_accounts.account_state(self.creator_id, settings.payouts)
        ).payouts_enabled:
            return daily_cap.NextPayout(None, 0)
        return await daily_cap.next_payout(
            self.creator_id, self.available_diamonds, settings.economy
        )

    @strawberry.field(
        description="When a payout can next be requested (now, or the next UTC day when "
        "today's cap is used up); null while the payout account is not verified or fewer "
        "than the minimum diamonds are available."
    )
    async def next_payout_available_at(self, info: CoinsInfo) -> datetime | None:
        return (await self._next(info)).at

    @strawberry.field(
        description="The most diamonds that payout may be of (available diamonds within "
        "the daily cap); 0 when nextPayoutAvailableAt is null."
    )
    async def next_payout_diamonds(self, info: CoinsInfo) -> int:
        return (await self._next(info)).diamonds


@strawberry.type
class PayoutAccount:
    status: PayoutAccountStatus
    details_submitted: bool = strawberry.field(
        description="The creator has filled in the provider's onboarding."
    )
    payouts_enabled: bool = strawberry.field(
        description="The provider can pay the creator: payouts may be requested."
    )

    @classmethod
    def of(cls, state: payout_accounts.AccountState) -> PayoutAccount:
        return cls(
            status=state.status,
            details_submitted=state.details_submitted,
            payouts_enabled=state.payouts_enabled,
        )


async def earnings_of(info: CoinsInfo, user_id: int) -> CreatorEarnings:
    balances = await info.context.loaders.balances_by_user_id.load(user_id)
    held = await info.context.loaders.held_diamonds_by_user_id.load(user_id)
    economy = info.context.settings.economy
    window = (await maturation.maturing([user_id], economy.earnings_maturation_days))[user_id]
    earned = payout_records.earnings_of(balances[Currency.DIAMOND], held, economy, window)
    return CreatorEarnings(
        diamonds=earned.diamonds,
        available_diamonds=earned.available_diamonds,
        pending_diamonds=earned.pending_diamonds,
        cash_value=Money.of(earned.cash_value),
        minimum_payout_diamonds=earned.minimum_payout_diamonds,
        creator_id=user_id,
        maturing_diamonds=earned.maturing_diamonds,
        next_maturity_at=earned.next_maturity_at,
    )


async def payouts_of(
    info: CoinsInfo, user_id: int, first: int, after: str | None
) -> Connection[Payout]:
    """The user's payouts, newest first."""
    return await paginate(
        info,
        first,
        after,
        PAYOUTS,
        lambda limit, before: payout_queries.list_payouts(
            creator_id=user_id, limit=limit, after=before
        ),
        lambda payout: Payout(record=payout),
    )


@strawberry.input
class RequestPayoutInput:
    diamonds: int
    idempotency_key: str


@strawberry.input
class CancelPayoutInput:
    payout_id: strawberry.ID


@strawberry.type
class PayoutPayload:
    payout: Payout | None = None
    errors: list[MutationError] = strawberry.field(default_factory=list)


@strawberry.type
class PayoutOnboardingPayload:
    url: str | None = strawberry.field(
        default=None,
        description="Where the creator fills in the provider's onboarding (single use, "
        "expires within minutes: ask again rather than store it).",
    )
    payout_account: PayoutAccount | None = None
    errors: list[MutationError] = strawberry.field(default_factory=list)


@strawberry.type
class PayoutsMutation:
    @mutation
    async def start_payout_onboarding(self, info: CoinsInfo) -> PayoutOnboardingPayload:
        onboarding = await payout_accounts.start_onboarding(
            await require_viewer_id(info),
            info.context.settings.payouts,
            info.context.settings.payments,
        )
        return PayoutOnboardingPayload(
            url=onboarding.url, payout_account=PayoutAccount.of(onboarding.state)
        )

    @mutation
    async def request_payout(self, info: CoinsInfo, input: RequestPayoutInput) -> PayoutPayload:
        payout = await payouts.request_payout(
            await require_viewer_id(info),
            input.diamonds,
            input.idempotency_key,
            economy=info.context.settings.economy,
            payout_settings=info.context.settings.payouts,
        )
        return PayoutPayload(payout=Payout(record=payout))

    @mutation
    async def cancel_payout(self, info: CoinsInfo, input: CancelPayoutInput) -> PayoutPayload:
        viewer_id = await require_viewer_id(info)
        payout_id = ids.PAYOUT.decode(input.payout_id, "payoutId")
        payout = await payouts.cancel_payout(viewer_id, payout_id)
        return PayoutPayload(payout=Payout(record=payout))

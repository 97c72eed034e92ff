"""Creators' payout accounts: onboarding with the provider and whether it may pay them.

With Stripe, a creator gets one Express account (created on their first
``startPayoutOnboarding``) and finishes Stripe's onboarding; ``account.updated`` then tells
us whether payouts are enabled, and only then may they request a payout. With the sandbox
provider nobody needs onboarding: every creator counts as verified (development only).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

import stripe
import structlog

from app.core.clock import as_utc, utcnow
from app.core.errors import DomainError, ErrorCode
from app.payouts.stripe_connect import StripeConnect, StripeNotConfigured
from app.payouts.tables import PayoutAccount
from app.settings import PaymentSettings, PayoutSettings
from app.users import service as users

log = structlog.get_logger(__name__)

STRIPE = "stripe"


class AccountStatus(enum.StrEnum):
    NOT_STARTED = "NOT_STARTED"  # no account at the provider yet
    PENDING = "PENDING"  # created; onboarding unfinished or under the provider's review
    VERIFIED = "VERIFIED"  # the provider can pay the creator out


@dataclass(frozen=True, slots=True)
class AccountState:
    status: AccountStatus
    details_submitted: bool
    payouts_enabled: bool


SANDBOX_STATE = AccountState(AccountStatus.VERIFIED, True, True)
NOT_STARTED = AccountState(AccountStatus.NOT_STARTED, False, False)


@dataclass(frozen=True, slots=True)
class Onboarding:
    url: str
    state: AccountState


def _state(row: dict | None) -> AccountState:
    if row is None:
        return NOT_STARTED
    enabled = bool(row["payouts_enabled"])
    return AccountState(
        AccountStatus.VERIFIED if enabled else AccountStatus.PENDING,
        bool(row["details_submitted"]),
        enabled,
    )


async def _row(creator_id: int) -> dict | None:
    return await PayoutAccount.select().where(PayoutAccount.creator_id == creator_id).first()


async def account_state(creator_id: int, settings: PayoutSettings) -> AccountState:
    if settings.provider != STRIPE:
        return SANDBOX_STATE
    return _state(await _row(creator_id))


async def stripe_account_id(creator_id: int) -> str | None:
    row = await _row(creator_id)
    return row["account_id"] if row is not None and row["provider"] == STRIPE else None


async def require_verified(creator_id: int, settings: PayoutSettings) -> None:
    if not (await account_state(creator_id, settings)).payouts_enabled:
        raise DomainError(
            ErrorCode.PAYOUT_ACCOUNT_NOT_VERIFIED,
            "Finish setting up your payout account (startPayoutOnboarding) before "
            "requesting a payout.",
        )


async def start_onboarding(
    creator_id: int, settings: PayoutSettings, payments: PaymentSettings
) -> Onboarding:
    """The link where the creator fills in Stripe's onboarding; creates their account once.

    Concurrent first calls get the same account (Stripe's idempotency key per creator, and
    one row per creator here). With the sandbox provider there is nothing to fill in: the
    creator is verified already and goes straight to the return URL."""
    users.require_can_transact(await users.get_user(creator_id))
    if settings.provider != STRIPE:
        return Onboarding(settings.stripe_onboarding_return_url, SANDBOX_STATE)
    try:
        return await _stripe_onboarding(creator_id, StripeConnect(settings, payments))
    except (stripe.StripeError, StripeNotConfigured) as error:
        log.warning("payouts.onboarding_failed", creator_id=creator_id, error=repr(error))
        raise DomainError(
            ErrorCode.SERVICE_UNAVAILABLE,
            "The payout provider did not answer; try again later.",
        ) from None


async def _stripe_onboarding(creator_id: int, connect: StripeConnect) -> Onboarding:
    row = await _row(creator_id)
    if row is None:
        account_id = await connect.create_account(creator_id)
        now = utcnow()
        await PayoutAccount.raw(
            "INSERT INTO payout_account (creator_id, provider, account_id, details_submitted, "
            "payouts_enabled, created_at, updated_at) VALUES ({}, {}, {}, {}, {}, {}, {}) "
            "ON CONFLICT DO NOTHING",
            creator_id,
            STRIPE,
            account_id,
            False,
            False,
            now,
            now,
        )
        row = await _row(creator_id)
        assert row is not None
    url = await connect.onboarding_link(row["account_id"])
    return Onboarding(url, _state(row))


async def record_account_update(
    account_id: str, *, details_submitted: bool, payouts_enabled: bool, reported_at: datetime
) -> bool:
    """Store what ``account.updated`` says, unless a newer report is stored already.

    Returns whether the account is ours (an unknown account's event is ignored)."""
    row = (
        await PayoutAccount.select()
        .where((PayoutAccount.provider == STRIPE) & (PayoutAccount.account_id == account_id))
        .first()
    )
    if row is None:
        return False
    if row["state_at"] is not None and as_utc(row["state_at"]) > reported_at:
        return True
    await PayoutAccount.update(
        {
            PayoutAccount.details_submitted: details_submitted,
            PayoutAccount.payouts_enabled: payouts_enabled,
            PayoutAccount.state_at: reported_at,
            PayoutAccount.updated_at: utcnow(),
        }
    ).where(PayoutAccount.id == row["id"])
    return True

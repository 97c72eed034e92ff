"""Payout providers: whatever actually moves the money to a creator's bank or wallet.

``PayoutProvider.send`` must be idempotent per payout (a retry after a crash between the
provider's answer and our commit must not pay twice): it returns the same reference for
the same payout. The sandbox provider records its 'transfers' in a table and does so.

The sandbox pays at once (``settles_on_send``); Stripe only starts a payout, whose
``payout.paid`` or ``payout.failed`` webhook settles it later (``app.payouts.connect_events``).
COINS_PAYOUT_PROVIDER chooses one.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Protocol

import stripe

from app.core.clock import utcnow
from app.core.transactions import in_transaction
from app.payouts import accounts
from app.payouts.records import PayoutRecord
from app.payouts.stripe_connect import StripeConnect, StripeNotConfigured
from app.payouts.tables import SandboxPayoutTransfer, StripePayoutTransfer
from app.settings import Settings


class PayoutProviderError(RuntimeError):
    """The provider did not confirm the transfer; the payout stays APPROVED for a retry."""


class PayoutProvider(Protocol):
    @property
    def settles_on_send(self) -> bool:
        """True when ``send`` returning means paid; False when a webhook says so later."""
        ...

    async def send(self, payout: PayoutRecord) -> str:
        """Send ``payout.amount`` to the creator; return the provider's payment reference."""
        ...


@dataclass(frozen=True)
class SandboxPayoutProvider:
    """Pays nobody: records one transfer per payout and returns a ``sandbox_...`` reference."""

    settles_on_send: bool = True

    async def send(self, payout: PayoutRecord) -> str:
        async def work() -> str:
            await SandboxPayoutTransfer.raw(
                "INSERT INTO payout_sandbox_transfer (payout_id, amount_minor, currency, "
                "reference, created_at) VALUES ({}, {}, {}, {}, {}) ON CONFLICT DO NOTHING",
                payout.id,
                payout.amount.amount_minor,
                payout.amount.currency,
                f"sandbox_{secrets.token_hex(12)}",
                utcnow(),
            )
            row = (
                await SandboxPayoutTransfer.select(SandboxPayoutTransfer.reference)
                .where(SandboxPayoutTransfer.payout_id == payout.id)
                .first()
            )
            assert row is not None
            return row["reference"]

        return await in_transaction(work)


@dataclass(frozen=True)
class StripePayoutProvider:
    """A Stripe transfer to the creator's connected account and a payout from it to their
    bank; returns the Stripe payout id (``po_...``). Idempotent per payout through Stripe's
    idempotency keys; the payout stays APPROVED until its webhook settles it."""

    connect: StripeConnect
    settles_on_send: bool = False

    async def send(self, payout: PayoutRecord) -> str:
        account_id = await accounts.stripe_account_id(payout.creator_id)
        if account_id is None:
            raise PayoutProviderError(f"creator {payout.creator_id} has no Stripe account")
        try:
            paid = await self.connect.pay(
                payout_id=payout.id,
                account_id=account_id,
                amount_minor=payout.amount.amount_minor,
                currency=payout.amount.currency,
            )
        except (stripe.StripeError, StripeNotConfigured) as error:
            raise PayoutProviderError(f"Stripe refused payout {payout.id}: {error}") from error

        async def work() -> None:
            await StripePayoutTransfer.raw(
                "INSERT INTO payout_stripe_transfer (payout_id, account_id, transfer_id, "
                "stripe_payout_id, created_at) VALUES ({}, {}, {}, {}, {}) "
                "ON CONFLICT DO NOTHING",
                payout.id,
                account_id,
                paid.transfer_id,
                paid.payout_id,
                utcnow(),
            )

        await in_transaction(work)
        return paid.payout_id


def provider_for(settings: Settings) -> PayoutProvider | None:
    """The configured provider, or None (the sandbox with sandbox payments off)."""
    if settings.payouts.provider == accounts.STRIPE:
        return StripePayoutProvider(StripeConnect(settings.payouts, settings.payments))
    return SandboxPayoutProvider() if settings.sandbox_payments else None


def provider_if_configured(settings: Settings) -> PayoutProvider | None:
    """The provider auto-approval may use, or None when none is configured."""
    return provider_for(settings)


def default_provider(settings: Settings) -> PayoutProvider:
    """The provider the app uses."""
    provider = provider_for(settings)
    if provider is None:
        raise PayoutProviderError(
            "No payout provider is configured: set COINS_PAYOUT_PROVIDER=stripe, or "
            "COINS_SANDBOX_PAYMENTS for the sandbox."
        )
    return provider

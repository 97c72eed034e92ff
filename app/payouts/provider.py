"""Payout providers: whatever actually moves the money to a creator's bank or wallet.

``PayoutProvider.send`` must be idempotent per payout (a retry after a crash between the
provider's answer and our commit must not pay twice): it returns the same reference for
the same payout. The sandbox provider records its 'transfers' in a table and does so.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Protocol

from app.core.clock import utcnow
from app.core.transactions import in_transaction
from app.payouts.records import PayoutRecord
from app.payouts.tables import SandboxPayoutTransfer


class PayoutProviderError(RuntimeError):
    """The provider did not confirm the transfer; the payout stays APPROVED for a retry."""


class PayoutProvider(Protocol):
    async def send(self, payout: PayoutRecord) -> str:
        """Send ``payout.amount`` to the creator; return the provider's payment reference."""
        ...


@dataclass(frozen=True)
class SandboxPayoutProvider:
    """Pays nobody: records one transfer per payout and returns a ``sandbox_...`` reference."""

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


def provider_if_configured(sandbox_payments: bool) -> PayoutProvider | None:
    """The provider auto-approval may use, or None when none is configured."""
    return SandboxPayoutProvider() if sandbox_payments else None


def default_provider(sandbox_payments: bool) -> PayoutProvider:
    """The provider the app uses; only the sandbox exists so far."""
    if not sandbox_payments:
        raise PayoutProviderError(
            "No payout provider is configured: set COINS_SANDBOX_PAYMENTS for the sandbox."
        )
    return SandboxPayoutProvider()

"""Stripe Connect (Express accounts), the calls we make: accounts, onboarding links, and
paying a creator (a transfer to their connected account, then a payout to their bank).

Every write carries an idempotency key derived from our own ids, so a retry after a crash
(or two racing requests) gets Stripe's first answer back instead of a second account,
transfer or payout. Async calls through ``httpx``: no request blocks the event loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import stripe

from app.settings import PaymentSettings, PayoutSettings


class StripeNotConfigured(RuntimeError):
    """COINS_STRIPE_SECRET_KEY is not set."""


@dataclass(frozen=True, slots=True)
class StripePayment:
    transfer_id: str
    payout_id: str


@dataclass(frozen=True)
class StripeConnect:
    settings: PayoutSettings
    # The platform's Stripe key and API base, shared with web checkout.
    payments: PaymentSettings

    def _client(self) -> stripe.StripeClient:
        if not self.payments.stripe_secret_key:
            raise StripeNotConfigured("Set COINS_STRIPE_SECRET_KEY to pay creators through Stripe.")
        base = self.payments.stripe_api_base or None
        return stripe.StripeClient(
            self.payments.stripe_secret_key,
            base_addresses={"api": base, "connect": base} if base else None,
            http_client=stripe.HTTPXClient(allow_sync_methods=False),
            max_network_retries=2,
        )

    async def create_account(self, creator_id: int) -> str:
        """An Express account for the creator, once: the key makes a retry return the same."""
        account = await self._client().v1.accounts.create_async(
            {
                "type": "express",
                "capabilities": {"transfers": {"requested": True}},
                "metadata": {"coins_creator_id": str(creator_id)},
            },
            {"idempotency_key": f"coins-account-{creator_id}"},
        )
        return str(account.id)

    async def onboarding_link(self, account_id: str) -> str:
        link = await self._client().v1.account_links.create_async(
            {
                "account": account_id,
                "type": "account_onboarding",
                "refresh_url": self.settings.stripe_onboarding_refresh_url,
                "return_url": self.settings.stripe_onboarding_return_url,
            }
        )
        return str(link.url)

    async def pay(
        self, *, payout_id: int, account_id: str, amount_minor: int, currency: str
    ) -> StripePayment:
        """Transfer the amount to the connected account, then pay it out to the creator's bank.

        ``payout.paid`` / ``payout.failed`` on the connected account say how it ended; the
        metadata names our payout so those events find it."""
        client = self._client()
        metadata: dict[str, Any] = {"coins_payout_id": str(payout_id)}
        transfer = await client.v1.transfers.create_async(
            {
                "amount": amount_minor,
                "currency": currency.lower(),
                "destination": account_id,
                "transfer_group": f"coins-payout-{payout_id}",
                "metadata": metadata,
            },
            {"idempotency_key": f"coins-payout-{payout_id}-transfer"},
        )
        payout = await client.v1.payouts.create_async(
            {"amount": amount_minor, "currency": currency.lower(), "metadata": metadata},
            {
                "idempotency_key": f"coins-payout-{payout_id}-payout",
                "stripe_account": account_id,
            },
        )
        return StripePayment(transfer_id=str(transfer.id), payout_id=str(payout.id))

"""Receipt verifiers: one small interface, one module per payment provider.

A verifier turns a client's proof of payment into a ``VerifiedPayment`` or raises
``RECEIPT_INVALID``. It never touches the database; the purchase service decides what the
payment buys and records it once per provider transaction id.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from app.core.errors import DomainError, ErrorCode
from app.core.money import Money
from app.purchases.codes import Provider
from app.settings import Settings

MAX_RECEIPT_LENGTH = 16_384


@dataclass(frozen=True, slots=True)
class VerifiedPayment:
    """What a provider vouches for: its transaction id and, when it says so, the product."""

    transaction_id: str
    product_id: str | None = None
    price: Money | None = None
    # True when the payment is only credited by the provider's webhook (Stripe).
    confirmed_by_webhook: bool = False
    # Apple: the buyer the app named at purchase (``app_account``); checked against the user.
    app_account_token: str | None = None
    # Whether a payment without ``app_account_token`` is refused (Apple outside development).
    requires_app_account_token: bool = False
    # The provider already counts it as delivered (Google: consumed): nothing to finish.
    finished: bool = False
    # Where the buyer was billed (Google's regionCode) when the provider says so but not
    # the price: the package's price there is recorded.
    country: str | None = None


class ReceiptVerifier(Protocol):
    provider: Provider

    def verify(self, receipt: str) -> VerifiedPayment: ...


@runtime_checkable
class ProductReceiptVerifier(Protocol):
    """A verifier that asks the provider over the network, per product (Google Play's API
    takes the product id with the token): it runs off the event loop."""

    def verify_for_product(self, receipt: str, product_id: str) -> VerifiedPayment: ...


@runtime_checkable
class FinishingVerifier(Protocol):
    """A provider that must hear the payment was delivered (Google: consume), else it
    refunds the buyer after a while. Called after the credit commits; never raises."""

    def finish(self, payment: VerifiedPayment) -> None: ...


async def finish_payment(verifier: ReceiptVerifier, payment: VerifiedPayment) -> None:
    if isinstance(verifier, FinishingVerifier) and not payment.finished:
        await asyncio.to_thread(verifier.finish, payment)


def receipt_invalid(message: str) -> DomainError:
    return DomainError(ErrorCode.RECEIPT_INVALID, message, "receipt")


def check_receipt_shape(receipt: str) -> str:
    receipt = receipt.strip()
    if not receipt or len(receipt) > MAX_RECEIPT_LENGTH or not receipt.isprintable():
        raise receipt_invalid("That receipt is empty, too long or not printable.")
    return receipt


def verifier_for(provider: Provider, settings: Settings) -> ReceiptVerifier:
    from app.purchases.verifiers.apple import AppleVerifier
    from app.purchases.verifiers.google import GoogleVerifier
    from app.purchases.verifiers.sandbox import SandboxVerifier
    from app.purchases.verifiers.stripe import StripeVerifier

    if provider is Provider.SANDBOX:
        return SandboxVerifier(enabled=settings.sandbox_payments)
    if provider is Provider.APPLE:
        return AppleVerifier.from_settings(
            settings.payments, require_account_token=settings.env != "development"
        )
    if provider is Provider.STRIPE:
        return StripeVerifier()
    return GoogleVerifier(
        settings.payments,
        require_account_token=settings.env != "development",
        accept_test_purchases=bool(settings.google_accept_test_purchases),
    )

"""Purchases vocabulary: platforms, payment providers, purchase states."""

from __future__ import annotations

import enum


class Platform(enum.StrEnum):
    WEB = "WEB"
    IOS = "IOS"
    ANDROID = "ANDROID"


class Provider(enum.StrEnum):
    SANDBOX = "SANDBOX"
    STRIPE = "STRIPE"
    APPLE = "APPLE"
    GOOGLE = "GOOGLE"


class PurchaseStatus(enum.StrEnum):
    COMPLETED = "COMPLETED"
    REFUNDED = "REFUNDED"
    # Paid, but for an account that may not hold coins (a minor, a frozen account): no
    # coins credited; support refunds it through the provider (then REFUNDED, nothing to
    # claw back) or credits it after review.
    HELD = "HELD"


# Where each provider sells; SANDBOX pays for any platform's packages (tests, development).
PROVIDER_PLATFORM: dict[Provider, Platform | None] = {
    Provider.SANDBOX: None,
    Provider.STRIPE: Platform.WEB,
    Provider.APPLE: Platform.IOS,
    Provider.GOOGLE: Platform.ANDROID,
}


class CheckoutStatus(enum.StrEnum):
    OPEN = "OPEN"
    # The webhook credited the package (``purchase_id``).
    PAID = "PAID"
    # Stripe reported another amount or currency than the bound price: nothing credited.
    AMOUNT_MISMATCH = "AMOUNT_MISMATCH"

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


class DisputeStatus(enum.StrEnum):
    OPEN = "OPEN"
    WON = "WON"
    LOST = "LOST"


class ClawbackKind(enum.StrEnum):
    """What one coin movement of a refund or dispute did (``purchase_clawback.kind``)."""

    REFUND = "REFUND"  # buyer -> issuance: a (partial) refund's coins
    REFUND_REVERSED = "REFUND_REVERSED"  # issuance -> buyer: the refund was reversed
    DISPUTE_HOLD = "DISPUTE_HOLD"  # buyer -> dispute hold: a dispute opened
    DISPUTE_RELEASED = "DISPUTE_RELEASED"  # dispute hold -> buyer: the dispute was won
    DISPUTE_LOST = "DISPUTE_LOST"  # dispute hold (or buyer) -> issuance: the dispute was lost
    DISPUTE_REVERSED = "DISPUTE_REVERSED"  # issuance -> buyer: a lost dispute was won after all
    # A gift reversal traced to the purchase's lost coins gave these back to the buyer (the
    # reversal's operation; no coins move of its own).
    GIFTS_REVERSED = "GIFTS_REVERSED"
    # Coins given back (refund reversed, dispute won) kept back for reversed gifts whose
    # coins came back already; given back again when the coins are lost again.
    REVERSALS_NETTED = "REVERSALS_NETTED"
    REVERSALS_UNNETTED = "REVERSALS_UNNETTED"


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

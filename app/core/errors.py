"""Domain errors: the one way services report a failure a user can act on."""

from __future__ import annotations

import enum


class ErrorCode(enum.StrEnum):
    """Stable codes the API promises to clients (see contract.graphql)."""

    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    INVALID_INPUT = "INVALID_INPUT"
    HANDLE_TAKEN = "HANDLE_TAKEN"
    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
    AGE_RESTRICTED = "AGE_RESTRICTED"
    ACCOUNT_FROZEN = "ACCOUNT_FROZEN"
    INSUFFICIENT_FUNDS = "INSUFFICIENT_FUNDS"
    SPENDING_LIMIT_REACHED = "SPENDING_LIMIT_REACHED"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    RECEIPT_INVALID = "RECEIPT_INVALID"
    RECEIPT_ALREADY_USED = "RECEIPT_ALREADY_USED"
    PACKAGE_UNAVAILABLE = "PACKAGE_UNAVAILABLE"
    GIFT_UNAVAILABLE = "GIFT_UNAVAILABLE"
    STREAM_NOT_LIVE = "STREAM_NOT_LIVE"
    SELF_GIFT = "SELF_GIFT"
    ALREADY_LIVE = "ALREADY_LIVE"
    BELOW_PAYOUT_MINIMUM = "BELOW_PAYOUT_MINIMUM"
    PAYOUT_LIMIT_REACHED = "PAYOUT_LIMIT_REACHED"
    PAYOUT_NOT_CANCELLABLE = "PAYOUT_NOT_CANCELLABLE"
    # The creator's payout account (Stripe Connect) is missing or cannot receive payouts yet.
    PAYOUT_ACCOUNT_NOT_VERIFIED = "PAYOUT_ACCOUNT_NOT_VERIFIED"
    # The creator holds the diamonds, but some are from gifts still maturing.
    EARNINGS_NOT_MATURED = "EARNINGS_NOT_MATURED"
    OFFER_UNAVAILABLE = "OFFER_UNAVAILABLE"
    OFFER_LIMIT_REACHED = "OFFER_LIMIT_REACHED"
    # The offer's expiry date has passed (an inactive or empty offer is OFFER_UNAVAILABLE).
    OFFER_EXPIRED = "OFFER_EXPIRED"
    RATE_LIMITED = "RATE_LIMITED"
    # Buying more coins would go over the user's purchase limits or the platform's cap.
    PURCHASE_LIMIT_REACHED = "PURCHASE_LIMIT_REACHED"
    # A payment's amount or currency is not the price its checkout bound: not credited.
    PAYMENT_AMOUNT_MISMATCH = "PAYMENT_AMOUNT_MISMATCH"
    # A store's test purchase (a license tester's: nobody paid) where the server takes only
    # real ones (production, unless COINS_GOOGLE_ACCEPT_TEST_PURCHASES).
    TEST_PURCHASE_REFUSED = "TEST_PURCHASE_REFUSED"
    # The payment provider could not be reached or refused the request: try again later.
    PAYMENT_PROVIDER_UNAVAILABLE = "PAYMENT_PROVIDER_UNAVAILABLE"
    # The database was lost and the request could not be completed: retry later (an
    # operation with an idempotency key, with the same key).
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
    TOO_MANY_SUBSCRIPTIONS = "TOO_MANY_SUBSCRIPTIONS"


class DomainError(Exception):
    """A failure the caller caused and can fix; the API shows it as a MutationError.

    ``field`` is the camelCase name of the input field at fault, when there is one.
    """

    def __init__(self, code: ErrorCode, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field

    def __repr__(self) -> str:
        return f"DomainError({self.code.value}, {self.message!r}, field={self.field!r})"


def invalid_input(message: str, field: str | None = None) -> DomainError:
    return DomainError(ErrorCode.INVALID_INPUT, message, field)

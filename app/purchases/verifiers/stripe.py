"""STRIPE: the receipt is a PaymentIntent id; the signed webhook is the proof of payment.

``verify`` only checks the id's shape. Coins are credited when ``payment_intent.succeeded``
arrives at ``/webhooks/stripe`` (see ``parse_event``); ``purchaseCoins`` then returns it.
No call to Stripe's API is made anywhere.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import stripe

from app.purchases.codes import Provider
from app.purchases.verifiers import VerifiedPayment, check_receipt_shape, receipt_invalid

PAYMENT_INTENT_ID = re.compile(r"^pi_[A-Za-z0-9_]{1,250}$")


class BadSignature(Exception):
    """The webhook is not signed by our endpoint secret, or its timestamp is too old."""


@dataclass(frozen=True)
class StripeVerifier:
    provider: Provider = Provider.STRIPE

    def verify(self, receipt: str) -> VerifiedPayment:
        receipt = check_receipt_shape(receipt)
        if not PAYMENT_INTENT_ID.fullmatch(receipt):
            raise receipt_invalid("A Stripe receipt is a PaymentIntent id (pi_...).")
        return VerifiedPayment(transaction_id=receipt, confirmed_by_webhook=True)


def parse_event(
    payload: bytes, signature_header: str | None, secret: str, tolerance_s: int
) -> dict[str, Any]:
    """The event in a webhook body whose signature over the raw bytes checks out."""
    if not secret:
        raise BadSignature("Stripe webhooks are not configured (no endpoint secret).")
    try:
        stripe.Webhook.construct_event(payload, signature_header, secret, tolerance=tolerance_s)
    except (stripe.SignatureVerificationError, ValueError) as error:
        raise BadSignature(str(error)) from error
    # The verified bytes, as plain JSON (the StripeObject is only for the check above).
    event = json.loads(payload)
    if not isinstance(event, dict) or not isinstance(event.get("id"), str):
        raise BadSignature("Not a Stripe event.")
    return event

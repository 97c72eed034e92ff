"""APPLE: StoreKit 2 signed transactions and App Store Server Notifications V2.

Verified with Apple's ``app-store-server-library``: the x5c chain must lead to one of the
configured root certificates and carry Apple's certificate OIDs, the signature must be
ES256, and the bundle id and environment must be ours. Online (OCSP) checks are off: they
would call Apple on every purchase; the chain is checked at the transaction's signed date.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from appstoreserverlibrary.models.Environment import Environment
from appstoreserverlibrary.models.JWSTransactionDecodedPayload import (
    JWSTransactionDecodedPayload,
)
from appstoreserverlibrary.models.ResponseBodyV2DecodedPayload import (
    ResponseBodyV2DecodedPayload,
)
from appstoreserverlibrary.signed_data_verifier import SignedDataVerifier, VerificationException

from app.core.money import Money, minor_unit_exponent
from app.purchases.codes import Provider
from app.purchases.verifiers import VerifiedPayment, check_receipt_shape, receipt_invalid
from app.settings import PaymentSettings


class AppleNotConfigured(Exception):
    """No bundle id or root certificates: no Apple receipt can be trusted."""


@dataclass(frozen=True)
class AppleNotification:
    notification_id: str
    notification_type: str
    transaction_id: str | None
    # A partial refund: REFUND_PRORATED with the share refunded, in milliunits of 100,000.
    revocation_type: str | None = None
    revocation_percentage: int | None = None


@dataclass(frozen=True)
class AppleVerifier:
    payments: PaymentSettings
    provider: Provider = Provider.APPLE
    # Outside development a transaction must name its buyer (``appAccountToken``).
    require_account_token: bool = True

    @classmethod
    def from_settings(
        cls, payments: PaymentSettings, *, require_account_token: bool = True
    ) -> AppleVerifier:
        return cls(payments, require_account_token=require_account_token)

    def _library_verifier(self) -> SignedDataVerifier:
        settings = self.payments
        if not settings.apple_bundle_id or not settings.apple_root_certificates:
            raise AppleNotConfigured("Apple payments are not configured on this server.")
        try:
            environment = Environment(settings.apple_environment)
        except ValueError:
            raise AppleNotConfigured(
                f"Unknown Apple environment {settings.apple_environment!r}."
            ) from None
        if environment is Environment.PRODUCTION and settings.apple_app_apple_id is None:
            raise AppleNotConfigured("Apple payments in production need the app's Apple id.")
        return SignedDataVerifier(
            list(settings.apple_root_certificates),
            False,
            environment,
            settings.apple_bundle_id,
            settings.apple_app_apple_id,
        )

    def decode_transaction(self, signed_transaction: str) -> JWSTransactionDecodedPayload:
        try:
            verifier = self._library_verifier()
        except AppleNotConfigured as error:
            raise receipt_invalid(str(error)) from None
        try:
            return verifier.verify_and_decode_signed_transaction(signed_transaction)
        except VerificationException as error:
            raise receipt_invalid(
                f"The App Store transaction does not verify ({error.status.name})."
            ) from None

    def verify(self, receipt: str) -> VerifiedPayment:
        transaction = self.decode_transaction(check_receipt_shape(receipt))
        if not transaction.transactionId or not transaction.productId:
            raise receipt_invalid("The App Store transaction has no transaction or product id.")
        if transaction.revocationDate is not None:
            raise receipt_invalid("The App Store transaction was refunded or revoked.")
        price = None
        if transaction.price is not None and transaction.currency:
            # StoreKit prices are in milliunits of the currency.
            exponent = minor_unit_exponent(transaction.currency)
            price = Money(transaction.price * 10**exponent // 1000, transaction.currency.upper())
        return VerifiedPayment(
            transaction_id=transaction.transactionId,
            product_id=transaction.productId,
            price=price,
            app_account_token=transaction.appAccountToken,
            requires_app_account_token=self.require_account_token,
        )

    def decode_notification(self, signed_payload: str) -> AppleNotification:
        """A verified notification; raises ``VerificationException`` or ``AppleNotConfigured``."""
        verifier = self._library_verifier()
        payload: ResponseBodyV2DecodedPayload = verifier.verify_and_decode_notification(
            signed_payload
        )
        transaction_id: str | None = None
        revocation_type: str | None = None
        revocation_percentage: int | None = None
        if payload.data is not None and payload.data.signedTransactionInfo:
            transaction = verifier.verify_and_decode_signed_transaction(
                payload.data.signedTransactionInfo
            )
            transaction_id = transaction.transactionId
            revocation_type = transaction.rawRevocationType
            revocation_percentage = transaction.revocationPercentage
        return AppleNotification(
            # Every V2 notification has a UUID; a hash keeps dedupe sound if one lacks it.
            notification_id=payload.notificationUUID
            or hashlib.sha256(signed_payload.encode()).hexdigest(),
            notification_type=payload.rawNotificationType or "",
            transaction_id=transaction_id,
            revocation_type=revocation_type,
            revocation_percentage=revocation_percentage,
        )

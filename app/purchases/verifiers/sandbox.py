"""SANDBOX: any unique string pays, only where sandbox payments are enabled."""

from __future__ import annotations

from dataclasses import dataclass

from app.purchases.codes import Provider
from app.purchases.verifiers import VerifiedPayment, check_receipt_shape, receipt_invalid


@dataclass(frozen=True)
class SandboxVerifier:
    enabled: bool
    provider: Provider = Provider.SANDBOX

    def verify(self, receipt: str) -> VerifiedPayment:
        if not self.enabled:
            raise receipt_invalid("Sandbox payments are disabled on this server.")
        return VerifiedPayment(transaction_id=check_receipt_shape(receipt))

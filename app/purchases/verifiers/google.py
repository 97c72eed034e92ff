"""GOOGLE: Google Play billing is not configured on this server, so no receipt verifies."""

from __future__ import annotations

from dataclasses import dataclass

from app.purchases.codes import Provider
from app.purchases.verifiers import VerifiedPayment, receipt_invalid


@dataclass(frozen=True)
class GoogleVerifier:
    provider: Provider = Provider.GOOGLE

    def verify(self, receipt: str) -> VerifiedPayment:
        raise receipt_invalid("Google Play payments are not configured on this server.")

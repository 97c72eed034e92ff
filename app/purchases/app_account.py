"""The account token that binds a store purchase to one of our users.

The app sets it when it starts a purchase (``me.appAccountToken``): as the App Store
``appAccountToken``, and as Google Play's ``obfuscatedAccountId``
(``BillingFlowParams.setObfuscatedAccountId``, returned by the Play Developer API as
``obfuscatedExternalAccountId``). The store signs or reports it with the purchase, so a
purchase redeems only for the account that bought it, and its refund claws back from that
account, never from whoever redeemed a stolen copy first.
A name-based UUID (RFC 4122 v5) of the user id: stable across devices, processes and
secret rotations, 36 characters (Google allows 64), and nothing to store.
"""

from __future__ import annotations

import uuid

from app.core.errors import DomainError, ErrorCode
from app.purchases.codes import Provider

_NAMESPACE = uuid.UUID("5b0c8f1e-4a4e-4c6b-9a53-1f0d6a1c2e77")

# What each store calls the purchase and the field the app sets.
_STORE_WORDS = {
    Provider.APPLE: ("App Store transaction", "appAccountToken", "starts the purchase"),
    Provider.GOOGLE: ("Google Play purchase", "obfuscatedAccountId", "launches the billing flow"),
}


def app_account_token(user_id: int) -> uuid.UUID:
    return uuid.uuid5(_NAMESPACE, f"coins-user:{user_id}")


def check_app_account_token(
    user_id: int, token: str | None, *, required: bool, provider: Provider = Provider.APPLE
) -> None:
    """RECEIPT_INVALID unless ``token`` is the user's; a missing one passes only when not
    ``required`` (development, where test builds of the app may not set it)."""
    purchase, field, moment = _STORE_WORDS[provider]
    if token is None or not token.strip():
        if required:
            raise DomainError(
                ErrorCode.RECEIPT_INVALID,
                f"The {purchase} carries no {field}: the app must set "
                f"it to me.appAccountToken when it {moment}.",
                "receipt",
            )
        return
    try:
        matches = uuid.UUID(token) == app_account_token(user_id)
    except ValueError:
        matches = False
    if not matches:
        raise DomainError(
            ErrorCode.RECEIPT_INVALID,
            f"This {purchase} was bought by another account.",
            "receipt",
        )

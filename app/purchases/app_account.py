"""The App Store ``appAccountToken`` that binds an Apple transaction to one of our users.

The app sets it when it starts a purchase (``me.appAccountToken``); Apple signs it into the
transaction, so a signed transaction redeems only for the account that bought it, and its
refund claws back from that account, never from whoever redeemed a stolen copy first.
A name-based UUID (RFC 4122 v5) of the user id: stable across devices, processes and
secret rotations, and nothing to store.
"""

from __future__ import annotations

import uuid

from app.core.errors import DomainError, ErrorCode

_NAMESPACE = uuid.UUID("5b0c8f1e-4a4e-4c6b-9a53-1f0d6a1c2e77")


def app_account_token(user_id: int) -> uuid.UUID:
    return uuid.uuid5(_NAMESPACE, f"coins-user:{user_id}")


def check_app_account_token(user_id: int, token: str | None, *, required: bool) -> None:
    """RECEIPT_INVALID unless ``token`` is the user's; a missing one passes only when not
    ``required`` (development, where test builds of the app may not set it)."""
    if token is None or not token.strip():
        if required:
            raise DomainError(
                ErrorCode.RECEIPT_INVALID,
                "The App Store transaction carries no appAccountToken: the app must set "
                "it to me.appAccountToken when it starts the purchase.",
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
            "This App Store transaction was bought by another account.",
            "receipt",
        )

"""Bearer tokens: HS256 JWTs whose ``sub`` is the user id, with an expiry."""

from __future__ import annotations

from datetime import timedelta

import jwt

from app.core.clock import utcnow
from app.settings import AuthSettings

ALGORITHM = "HS256"
ISSUER = "coins"


def issue_token(user_id: int, settings: AuthSettings) -> str:
    now = utcnow()
    claims = {
        "sub": str(user_id),
        "iss": ISSUER,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(seconds=settings.token_ttl_s)).timestamp()),
    }
    return jwt.encode(claims, settings.jwt_secret, algorithm=ALGORITHM)


def user_id_from_token(token: str, settings: AuthSettings) -> int | None:
    """The user a valid token names; None for a bad, expired or foreign token."""
    try:
        claims = jwt.decode(
            token,
            settings.jwt_secret,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": ["exp", "sub", "iat"], "verify_iat": False},
            leeway=0,
        )
    except jwt.PyJWTError:
        return None
    # PyJWT checks expiry against the wall clock; check against ours too so tests can travel.
    if claims["exp"] <= int(utcnow().timestamp()):
        return None
    subject = claims["sub"]
    return int(subject) if isinstance(subject, str) and subject.isdigit() else None


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None

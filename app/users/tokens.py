"""Bearer tokens: HS256 JWTs whose ``sub`` is the user id, with an expiry.

A client sends the same token with every request until it expires, so a verified token is
remembered (bounded, per process) with its expiry: checking it again is a dictionary hit,
not a signature and a JSON parse. It is still refused the moment it expires.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import timedelta

import jwt

from app.core.clock import utcnow
from app.settings import AuthSettings

ALGORITHM = "HS256"
ISSUER = "coins"
VERIFIED_TOKENS = 8_192

# (token, secret) -> (user id, expiry as a UNIX time), most recently used last.
_verified: OrderedDict[tuple[str, str], tuple[int, int]] = OrderedDict()


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
    key = (token, settings.jwt_secret)
    known = _verified.get(key)
    if known is not None:
        if known[1] > int(utcnow().timestamp()):
            _verified.move_to_end(key)
            return known[0]
        del _verified[key]
    user_id, expires = _verify(token, settings)
    if user_id is not None:
        _verified[key] = (user_id, expires)
        if len(_verified) > VERIFIED_TOKENS:
            _verified.popitem(last=False)
    return user_id


def token_expiry(token: str, settings: AuthSettings) -> int | None:
    """When a valid token expires (a UNIX time), for what outlives a request: a websocket's
    subscriptions end then. None for a bad or expired token."""
    if user_id_from_token(token, settings) is None:
        return None
    known = _verified.get((token, settings.jwt_secret))
    return known[1] if known is not None else None


def _verify(token: str, settings: AuthSettings) -> tuple[int | None, int]:
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
        return None, 0
    # PyJWT checks expiry against the wall clock; check against ours too so tests can travel.
    expires = claims["exp"]
    if not isinstance(expires, int) or expires <= int(utcnow().timestamp()):
        return None, 0
    subject = claims["sub"]
    valid = isinstance(subject, str) and subject.isdigit()
    return (int(subject) if valid else None), expires


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None

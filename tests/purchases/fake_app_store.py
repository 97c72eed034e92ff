"""A local fake of the App Store Server API's consumption endpoint, served over HTTP.

It checks what Apple checks of the caller: an ES256 JWT signed by the In-App Purchase key
(``kid`` header, issuer, audience ``appstoreconnect-v1``, bundle id) and records the bodies.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
)
from litestar import Litestar, Request, put
from litestar.response import Response

from tests.purchases.signing import BUNDLE_ID
from tests.server import served

KEY_ID = "TESTKEY123"
ISSUER_ID = "57246542-96fe-1a63-e053-0824d011072a"


@dataclass
class FakeAppStore:
    url: str
    key_pem: str
    received: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


def _app(store: FakeAppStore, public_key: ec.EllipticCurvePublicKey) -> Litestar:
    @put("/inApps/v2/transactions/consumption/{transaction_id:str}")
    async def consumption(request: Request) -> Response[dict[str, Any] | None]:
        transaction_id = request.path_params["transaction_id"]
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        try:
            header = jwt.get_unverified_header(token)
            claims = jwt.decode(
                token,
                public_key,
                algorithms=["ES256"],
                audience="appstoreconnect-v1",
                issuer=ISSUER_ID,
            )
            if header.get("kid") != KEY_ID or claims.get("bid") != BUNDLE_ID:
                raise jwt.InvalidTokenError("wrong key id or bundle")
        except jwt.InvalidTokenError as error:
            store.refused.append(str(error))
            return Response({"errorCode": 4010000}, status_code=401)
        store.received.append((transaction_id, await request.json()))
        return Response(None, status_code=202)

    return Litestar([consumption])


@contextmanager
def fake_app_store() -> Iterator[FakeAppStore]:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()
    store = FakeAppStore(url="", key_pem=pem)
    with served(_app(store, key.public_key())) as server:
        store.url = server.url
        yield store

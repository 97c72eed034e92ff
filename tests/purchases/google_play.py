"""Google's side of the tests: every call answered in order by googleapiclient's own
``HttpMockSequence`` (the OAuth token, the Play Developer API, the push certificates)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

import jwt
from googleapiclient.http import HttpMockSequence

from app.purchases.app_account import app_account_token
from tests.purchases.signing import GOOGLE_TOKEN_URI, GoogleSigner

ACCESS_TOKEN = "ya29.test-access-token"
API = "https://androidpublisher.googleapis.com/androidpublisher/v3/applications"


class PlayApi:
    """Queue Google's answers, then read back what the app asked."""

    def __init__(self, signer: GoogleSigner) -> None:
        self.signer = signer
        self.responses: list[tuple[dict[str, str], str]] = []
        self.mocks: list[HttpMockSequence] = []

    def http(self) -> HttpMockSequence:
        mock = HttpMockSequence(self.responses)  # shares the queue
        self.mocks.append(mock)
        return mock

    def reply(self, body: object, status: int = 200) -> PlayApi:
        text = body if isinstance(body, str) else json.dumps(body)
        self.responses.append(({"status": str(status), "content-type": "application/json"}, text))
        return self

    def oauth_token(self) -> PlayApi:
        return self.reply(
            {"access_token": ACCESS_TOKEN, "expires_in": 3600, "token_type": "Bearer"}
        )

    def purchase(
        self,
        buyer: int | None,
        *,
        product: str | None = "coins.70",
        state: int = 0,
        consumed: int = 0,
        order: str = "GPA.3300-0000-0000-00001",
        quantity: int | None = None,
        region: str = "US",
        purchase_type: int | None = None,
    ) -> PlayApi:
        body: dict[str, Any] = {
            "kind": "androidpublisher#productPurchase",
            "purchaseTimeMillis": "1790000000000",
            "purchaseState": state,
            "consumptionState": consumed,
            "orderId": order,
            "acknowledgementState": consumed,
            "regionCode": region,
        }
        if product is not None:
            body["productId"] = product
        if buyer is not None:
            body["obfuscatedExternalAccountId"] = str(app_account_token(buyer))
        if quantity is not None:
            body["quantity"] = quantity
        if purchase_type is not None:
            body["purchaseType"] = purchase_type  # 0 test (license tester), 1 promo, 2 rewarded
        return self.reply(body)

    def consumed(self) -> PlayApi:
        return self.reply("", 204)

    def certs(self) -> PlayApi:
        return self.reply(self.signer.certs)

    @property
    def requests(self) -> list[tuple[str, str, Any, dict[str, str]]]:
        return [request for mock in self.mocks for request in mock.request_sequence]

    def uris(self) -> list[str]:
        return [f"{method} {uri.split('?')[0]}" for uri, method, _, _ in self.requests]

    def assertion_claims(self) -> dict[str, Any]:
        """The OAuth assertion google-auth sent: it must verify with our account's key."""
        [body] = [body for uri, _, body, _ in self.requests if uri == GOOGLE_TOKEN_URI]
        form = parse_qs(body if isinstance(body, str) else body.decode())
        assert form["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
        return jwt.decode(
            form["assertion"][0],
            self.signer.account_key.public_key(),
            algorithms=["RS256"],
            audience=GOOGLE_TOKEN_URI,
        )


def product_uri(package: str, product: str, token: str, action: str = "") -> str:
    return f"{API}/{package}/purchases/products/{product}/tokens/{token}{action}"

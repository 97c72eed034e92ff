"""GraphQL documents and one-liners the purchases tests share."""

from __future__ import annotations

from typing import Any

from litestar.testing import AsyncTestClient

from app.core.ids import encode_id
from app.purchases.tables import Purchase
from app.settings import Settings
from app.users.service import UserRecord
from app.users.tokens import issue_token
from tests.graphql.helpers import gql

PURCHASE = """
mutation Buy($input: PurchaseCoinsInput!) {
  purchaseCoins(input: $input) {
    purchase { id coins bonusCoins price { amount currencyCode } provider status
               package { id coins platform } }
    wallet { coins entries(first: 1) { edges { node { kind amount balanceAfter } } } }
    errors { code message field }
  }
}
"""


def token_for(user: UserRecord, settings: Settings) -> str:
    return issue_token(user.id, settings.auth)


def package_id(package_id: int) -> str:
    return encode_id("CoinPackage", package_id)


async def buy(
    client: AsyncTestClient,
    token: str,
    *,
    package: int | str,
    provider: str = "SANDBOX",
    receipt: str,
    key: str,
) -> dict[str, Any]:
    data = await gql(
        client,
        PURCHASE,
        {
            "input": {
                "packageId": package_id(package) if isinstance(package, int) else package,
                "provider": provider,
                "receipt": receipt,
                "idempotencyKey": key,
            }
        },
        token=token,
    )
    return data["purchaseCoins"]


def error_codes(payload: dict[str, Any]) -> list[str]:
    return [error["code"] for error in payload["errors"]]


async def purchase_count() -> int:
    return await Purchase.count()


CHECKOUT = """
mutation Checkout($input: CreateCheckoutInput!) {
  createCheckout(input: $input) {
    checkout { id paymentIntentId clientSecret amount { amount currencyCode } status
               package { id coins } }
    errors { code message field }
  }
}
"""


async def create_checkout(
    client: AsyncTestClient,
    token: str,
    *,
    package: int | str,
    key: str,
    country: str | None = None,
) -> dict[str, Any]:
    data = await gql(
        client,
        CHECKOUT,
        {
            "input": {
                "packageId": package_id(package) if isinstance(package, int) else package,
                "country": country,
                "idempotencyKey": key,
            }
        },
        token=token,
    )
    return data["createCheckout"]

"""purchaseCoins with SANDBOX receipts: credit once, refuse what must be refused."""

from __future__ import annotations

import asyncio

import pytest
from litestar.testing import AsyncTestClient

from app.core.errors import DomainError
from app.ledger.tables import Operation, Transfer
from app.main import create_app
from app.purchases import buying
from app.purchases.codes import Provider
from app.purchases.verifiers.sandbox import SandboxVerifier
from app.settings import Settings
from app.users.tables import User
from tests.conftest import Database
from tests.factories import coins_of, make_user
from tests.graphql.helpers import gql_response
from tests.purchases.conftest import Packages
from tests.purchases.helpers import buy, error_codes, purchase_count, token_for


async def test_a_sandbox_purchase_credits_coins_and_bonus_over_http(
    client: AsyncTestClient, settings: Settings, packages: Packages
) -> None:
    alice = await make_user()

    payload = await buy(
        client, token_for(alice, settings), package=packages.web_big.id, receipt="r-1", key="k-1"
    )

    assert payload["errors"] == []
    purchase = payload["purchase"]
    assert purchase["coins"] == 750
    assert purchase["bonusCoins"] == 50
    assert purchase["price"] == {"amount": "7.49", "currencyCode": "USD"}
    assert (purchase["provider"], purchase["status"]) == ("SANDBOX", "COMPLETED")
    assert purchase["package"]["coins"] == 700
    assert payload["wallet"]["coins"] == 750
    [entry] = [e["node"] for e in payload["wallet"]["entries"]["edges"]]
    assert entry == {"kind": "PURCHASE", "amount": 750, "balanceAfter": 750}
    assert await coins_of(alice.id) == 750


async def test_the_same_key_and_input_returns_the_first_purchase_and_credits_once(
    client: AsyncTestClient, settings: Settings, packages: Packages
) -> None:
    alice = await make_user()
    token = token_for(alice, settings)

    first = await buy(client, token, package=packages.web.id, receipt="r-1", key="k-1")
    again = await buy(client, token, package=packages.web.id, receipt="r-1", key="k-1")

    assert again["errors"] == []
    assert again["purchase"]["id"] == first["purchase"]["id"]
    assert await coins_of(alice.id) == 70
    assert await purchase_count() == 1


async def test_the_same_key_with_another_input_is_refused(
    client: AsyncTestClient, settings: Settings, packages: Packages
) -> None:
    alice = await make_user()
    token = token_for(alice, settings)
    await buy(client, token, package=packages.web.id, receipt="r-1", key="k-1")

    reused = await buy(client, token, package=packages.web.id, receipt="r-2", key="k-1")

    assert reused["purchase"] is None
    assert reused["errors"] == [
        {
            "code": "IDEMPOTENCY_KEY_REUSED",
            "message": "This idempotency key was already used for a different request.",
            "field": "idempotencyKey",
        }
    ]
    assert await coins_of(alice.id) == 70


async def test_a_replayed_receipt_under_another_key_is_already_used(
    client: AsyncTestClient, settings: Settings, packages: Packages
) -> None:
    alice, bob = await make_user(), await make_user()
    await buy(client, token_for(alice, settings), package=packages.web.id, receipt="r-1", key="a")

    by_alice = await buy(
        client, token_for(alice, settings), package=packages.web.id, receipt="r-1", key="b"
    )
    by_bob = await buy(
        client, token_for(bob, settings), package=packages.web.id, receipt="r-1", key="a"
    )

    assert error_codes(by_alice) == error_codes(by_bob) == ["RECEIPT_ALREADY_USED"]
    assert by_alice["errors"][0]["field"] == "receipt"
    assert (await coins_of(alice.id), await coins_of(bob.id)) == (70, 0)
    assert await purchase_count() == 1


@pytest.mark.parametrize(
    ("age", "frozen", "code"),
    [(15, False, "AGE_RESTRICTED"), (30, True, "ACCOUNT_FROZEN")],
)
async def test_minors_and_frozen_accounts_cannot_buy(
    client: AsyncTestClient,
    settings: Settings,
    packages: Packages,
    age: int,
    frozen: bool,
    code: str,
) -> None:
    user = await make_user(age=age)
    if frozen:
        await User.update({User.frozen: True}).where(User.id == user.id)

    payload = await buy(
        client, token_for(user, settings), package=packages.web.id, receipt="r-1", key="k"
    )

    assert error_codes(payload) == [code]
    assert payload["purchase"] is None
    assert payload["wallet"] is None
    assert await coins_of(user.id) == 0
    assert await purchase_count() == 0
    assert await Operation.count() == 0


async def test_unknown_retired_and_other_platform_packages_are_unavailable(
    client: AsyncTestClient, settings: Settings, packages: Packages
) -> None:
    from app.purchases.tables import CoinPackage

    alice = await make_user()
    token = token_for(alice, settings)
    await CoinPackage.update({CoinPackage.active: False}).where(
        CoinPackage.id == packages.web_big.id
    )

    unknown = await buy(client, token, package=999_999, receipt="r-1", key="k-1")
    retired = await buy(client, token, package=packages.web_big.id, receipt="r-2", key="k-2")
    ios_via_stripe = await buy(
        client, token, package=packages.ios.id, provider="STRIPE", receipt="pi_1", key="k-3"
    )
    malformed = await buy(client, token, package="not-an-id", receipt="r-3", key="k-4")

    assert error_codes(unknown) == error_codes(retired) == ["PACKAGE_UNAVAILABLE"]
    assert error_codes(ios_via_stripe) == ["PACKAGE_UNAVAILABLE"]
    assert "sold on IOS" in ios_via_stripe["errors"][0]["message"]
    assert malformed["errors"] == [
        {"code": "INVALID_INPUT", "message": "Not a valid CoinPackage id.", "field": "packageId"}
    ]
    assert await coins_of(alice.id) == 0
    assert await Transfer.count() == 0


async def test_sandbox_receipts_are_refused_where_sandbox_payments_are_off(
    db: Database, packages: Packages
) -> None:
    settings = db.settings(sandbox_payments=False)
    alice = await make_user()
    async with AsyncTestClient(create_app(settings)) as client:
        payload = await buy(
            client, token_for(alice, settings), package=packages.web.id, receipt="r-1", key="k"
        )

    assert payload["errors"] == [
        {
            "code": "RECEIPT_INVALID",
            "message": "Sandbox payments are disabled on this server.",
            "field": "receipt",
        }
    ]
    assert await coins_of(alice.id) == 0


async def test_google_and_malformed_receipts_are_invalid(
    client: AsyncTestClient, settings: Settings, packages: Packages
) -> None:
    alice = await make_user()
    token = token_for(alice, settings)

    google = await buy(
        client, token, package=packages.android.id, provider="GOOGLE", receipt="gp-1", key="k-1"
    )
    blank = await buy(client, token, package=packages.web.id, receipt="   ", key="k-2")
    apple_garbage = await buy(
        client, token, package=packages.ios.id, provider="APPLE", receipt="abc", key="k-3"
    )

    assert error_codes(google) == error_codes(blank) == error_codes(apple_garbage)
    assert error_codes(google) == ["RECEIPT_INVALID"]
    assert "not configured" in google["errors"][0]["message"]
    assert await coins_of(alice.id) == 0


async def test_signed_out_callers_are_unauthenticated(
    client: AsyncTestClient, packages: Packages
) -> None:
    body = await gql_response(
        client,
        'mutation { purchaseCoins(input: {packageId: "x", provider: SANDBOX, receipt: "r", '
        'idempotencyKey: "k"}) { errors { code } purchase { id } } }',
    )

    assert body["data"]["purchaseCoins"] == {
        "errors": [{"code": "UNAUTHENTICATED"}],
        "purchase": None,
    }


async def _buy(user_id: int, package_id: int, receipt: str, key: str) -> str:
    try:
        await buying.purchase_coins(
            user_id=user_id,
            package_id=package_id,
            provider=Provider.SANDBOX,
            receipt=receipt,
            idempotency_key=key,
            verifier=SandboxVerifier(enabled=True),
        )
    except DomainError as error:
        return error.code.value
    return "OK"


async def test_concurrent_submissions_of_one_receipt_credit_once(packages: Packages) -> None:
    alice = await make_user()

    results = await asyncio.gather(
        *(_buy(alice.id, packages.web.id, "same-receipt", f"key-{n}") for n in range(6))
    )

    assert sorted(results) == ["OK"] + ["RECEIPT_ALREADY_USED"] * 5
    assert await coins_of(alice.id) == 70
    assert await purchase_count() == 1


async def test_concurrent_requests_with_one_key_move_value_once(packages: Packages) -> None:
    alice = await make_user()

    results = await asyncio.gather(
        *(_buy(alice.id, packages.web.id, "receipt", "one-key") for _ in range(6))
    )

    assert results == ["OK"] * 6
    assert await coins_of(alice.id) == 70
    assert await purchase_count() == 1

"""GOOGLE: Play purchase tokens checked with the Play Developer API, consumed after the
credit; voided purchases (push notifications with Google's OIDC token, and the poll) claw
back. Google's answers come from googleapiclient's HttpMockSequence over the real
androidpublisher v3 discovery document; every signature is real."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from litestar.testing import AsyncTestClient

from app.core.money import Money
from app.integrity import verify_all
from app.main import create_app
from app.purchases.codes import Platform
from app.purchases.google_play import poll_voided_purchases
from app.purchases.packages import create_package
from app.purchases.tables import Purchase, WebhookEvent
from app.purchases.verifiers import google as google_module
from app.settings import PaymentSettings, Settings
from tests.conftest import Database
from tests.factories import coins_of, make_user
from tests.graphql.helpers import gql
from tests.purchases.conftest import Packages
from tests.purchases.google_play import ACCESS_TOKEN, PlayApi, product_uri
from tests.purchases.helpers import buy, error_codes, purchase_count, token_for
from tests.purchases.signing import (
    GOOGLE_PACKAGE,
    PUSH_ACCOUNT,
    PUSH_AUDIENCE,
    GoogleSigner,
    google_push,
)

TOKEN = "opaque-token-up-to-150-characters.AO-J1OxYz"
CERTS_URL = "https://www.googleapis.com/oauth2/v1/certs"


@pytest.fixture(scope="session")
def google() -> GoogleSigner:
    return GoogleSigner.create()


@pytest.fixture
def play(google: GoogleSigner, monkeypatch: pytest.MonkeyPatch) -> Iterator[PlayApi]:
    api = PlayApi(google)
    google_module.reset_caches()
    monkeypatch.setattr(google_module, "http_factory", api.http)
    yield api
    google_module.reset_caches()


def google_payments(google: GoogleSigner) -> PaymentSettings:
    return PaymentSettings(
        google_package_name=GOOGLE_PACKAGE,
        google_service_account=google.service_account_json,
        google_pubsub_audience=PUSH_AUDIENCE,
        google_pubsub_service_account=PUSH_ACCOUNT,
        google_pubsub_certs_url=CERTS_URL,
    )


@pytest.fixture
def settings(db: Database, google: GoogleSigner) -> Settings:
    return db.settings(payments=google_payments(google))


async def buy_on_play(
    client: AsyncTestClient, settings: Settings, buyer: Any, receipt: str, key: str, package: int
) -> dict[str, Any]:
    return await buy(
        client,
        token_for(buyer, settings),
        package=package,
        provider="GOOGLE",
        receipt=receipt,
        key=key,
    )


async def push(
    client: AsyncTestClient, body: dict[str, Any], token: str | None
) -> tuple[int, dict[str, Any]]:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    response = await client.post("/webhooks/google", json=body, headers=headers)
    return response.status_code, response.json()


def voided(token: str, message_id: str | None = None, refund_type: int = 1) -> dict[str, Any]:
    return google_push(
        {
            "voidedPurchaseNotification": {
                "purchaseToken": token,
                "orderId": "GPA.3300-0000-0000-00001",
                "productType": 2,
                "refundType": refund_type,
            }
        },
        message_id,
    )


async def test_a_play_purchase_buys_its_package_over_graphql(
    client: AsyncTestClient, settings: Settings, packages: Packages, play: PlayApi
) -> None:
    alice = await make_user()
    me = await gql(client, "{ me { appAccountToken } }", token=token_for(alice, settings))
    play.oauth_token().purchase(alice.id).consumed()

    payload = await buy_on_play(client, settings, alice, TOKEN, "k-1", packages.android.id)

    assert payload["errors"] == []
    assert payload["purchase"]["provider"] == "GOOGLE"
    assert payload["purchase"]["price"] == {"amount": "0.99", "currencyCode": "USD"}
    assert payload["wallet"]["coins"] == 70
    assert await Purchase.select(Purchase.provider_transaction_id).first() == {
        "provider_transaction_id": TOKEN
    }
    # The OAuth token with our service account's signed assertion, the lookup under our
    # package name and the package's product, then the consume after the commit.
    assert play.uris() == [
        "POST https://oauth2.googleapis.com/token",
        "GET " + product_uri(GOOGLE_PACKAGE, "coins.70", TOKEN),
        "POST " + product_uri(GOOGLE_PACKAGE, "coins.70", TOKEN, ":consume"),
    ]
    assert play.assertion_claims()["scope"] == "https://www.googleapis.com/auth/androidpublisher"
    assert play.requests[1][3]["authorization"] == f"Bearer {ACCESS_TOKEN}"
    assert play.responses == []
    # The value the app passes as obfuscatedAccountId is the user's appAccountToken.
    assert me["me"]["appAccountToken"] is not None


async def test_a_purchase_json_names_its_app_and_product(
    client: AsyncTestClient, settings: Settings, packages: Packages, play: PlayApi
) -> None:
    alice = await make_user()
    play.oauth_token().purchase(alice.id).consumed()
    original = {"packageName": GOOGLE_PACKAGE, "productId": "coins.70", "purchaseToken": TOKEN}

    payload = await buy_on_play(
        client, settings, alice, json.dumps(original), "k-1", packages.android.id
    )

    assert payload["errors"] == []
    assert await coins_of(alice.id) == 70


async def test_the_price_recorded_is_the_packages_price_in_the_billing_region(
    client: AsyncTestClient, settings: Settings, packages: Packages, play: PlayApi
) -> None:
    alice = await make_user()
    gb = await create_package(
        platform=Platform.ANDROID,
        coins=700,
        price=Money(999, "USD"),
        product_id="coins.700",
        country_prices={"GB": Money(899, "GBP")},
    )
    play.oauth_token().purchase(alice.id, product="coins.700", region="GB").consumed()
    play.purchase(alice.id, product="coins.700", region="FR").consumed()

    in_gb = await buy_on_play(client, settings, alice, "t-gb", "k-1", gb.id)
    in_fr = await buy_on_play(client, settings, alice, "t-fr", "k-2", gb.id)

    assert in_gb["purchase"]["price"] == {"amount": "8.99", "currencyCode": "GBP"}
    assert in_fr["purchase"]["price"] == {"amount": "9.99", "currencyCode": "USD"}
    assert await coins_of(alice.id) == 1400


async def test_wrong_product_package_name_and_unpaid_states_are_invalid(
    client: AsyncTestClient, settings: Settings, packages: Packages, play: PlayApi
) -> None:
    alice = await make_user()
    android = packages.android.id
    play.oauth_token()
    play.purchase(alice.id, product="coins.7000")  # the token is another product's
    play.purchase(alice.id, product="coins.7000")  # named by the purchase JSON
    play.reply({"error": {"code": 404, "message": "not found"}}, 404)  # another app's token
    play.purchase(alice.id, state=2)
    play.purchase(alice.id, state=1)
    play.purchase(alice.id, quantity=3)

    def original(**changes: str) -> str:
        fields = {"packageName": GOOGLE_PACKAGE, "productId": "coins.70", "purchaseToken": "t-2"}
        return json.dumps(fields | changes)

    attempts = {
        "other product": "t-1",
        "json other product": original(productId="coins.7000"),
        "json other package": original(packageName="com.other.app"),
        "unknown token": "t-3",
        "pending": "t-4",
        "canceled": "t-5",
        "several": "t-6",
    }
    results = {
        name: await buy_on_play(client, settings, alice, receipt, name, android)
        for name, receipt in attempts.items()
    }

    assert {name: error_codes(p) for name, p in results.items()} == {
        name: ["RECEIPT_INVALID"] for name in attempts
    }
    messages = {name: p["errors"][0]["message"] for name, p in results.items()}
    assert "another product" in messages["other product"]
    assert "another product" in messages["json other product"]
    assert "another app (packageName)" in messages["json other package"]
    assert "does not know this purchase token" in messages["unknown token"]
    assert "pending" in messages["pending"]
    assert "canceled" in messages["canceled"]
    assert "several" in messages["several"]
    # Nothing credited, nothing consumed (Google refunds what nobody consumes).
    assert not any(":consume" in uri for uri in play.uris())
    assert play.responses == []
    assert await coins_of(alice.id) == 0
    assert await purchase_count() == 0


async def test_test_purchases_are_refused_where_only_real_ones_are_taken(
    db: Database, packages: Packages, play: PlayApi, google: GoogleSigner
) -> None:
    """A license tester's purchase (purchaseType 0) is free: in production it credits nothing."""
    strict = db.settings(payments=google_payments(google), google_accept_test_purchases=False)
    alice = await make_user()
    android = packages.android.id
    play.oauth_token().purchase(alice.id, purchase_type=0)  # refused: never consumed
    play.purchase(alice.id, purchase_type=1).consumed()  # a promo code: Google's to honour

    async with AsyncTestClient(create_app(strict)) as client:
        test = await buy_on_play(client, strict, alice, "t-test", "k-1", android)
        promo = await buy_on_play(client, strict, alice, "t-promo", "k-2", android)

    assert error_codes(test) == ["TEST_PURCHASE_REFUSED"]
    assert test["errors"][0]["field"] == "receipt"
    assert promo["errors"] == []
    assert await coins_of(alice.id) == 70
    assert await purchase_count() == 1
    assert [uri.endswith(":consume") for uri in play.uris()] == [False, False, False, True]
    assert play.responses == []
    assert (await verify_all()).ok


async def test_test_purchases_are_credited_where_the_settings_accept_them(
    client: AsyncTestClient, settings: Settings, packages: Packages, play: PlayApi
) -> None:
    alice = await make_user()
    play.oauth_token().purchase(alice.id, purchase_type=0).consumed()

    payload = await buy_on_play(client, settings, alice, "t-test", "k-1", packages.android.id)

    assert settings.google_accept_test_purchases is True  # the test environment's default
    assert payload["errors"] == []
    assert await coins_of(alice.id) == 70


async def test_a_play_token_cannot_buy_another_platforms_package(
    client: AsyncTestClient, settings: Settings, packages: Packages, play: PlayApi
) -> None:
    alice = await make_user()

    payload = await buy_on_play(client, settings, alice, TOKEN, "k", packages.ios.id)

    assert error_codes(payload) == ["PACKAGE_UNAVAILABLE"]
    assert play.requests == []


async def test_a_purchase_redeems_only_for_the_account_that_bought_it(
    client: AsyncTestClient, settings: Settings, packages: Packages, play: PlayApi
) -> None:
    bob, mallory = await make_user(), await make_user()
    play.oauth_token().purchase(bob.id).purchase(None)

    stolen = await buy_on_play(client, settings, mallory, TOKEN, "k-1", packages.android.id)
    unbound = await buy_on_play(client, settings, mallory, "t-2", "k-2", packages.android.id)

    assert error_codes(stolen) == ["RECEIPT_INVALID"]
    assert stolen["errors"][0]["message"] == (
        "This Google Play purchase was bought by another account."
    )
    assert error_codes(unbound) == ["RECEIPT_INVALID"]
    assert "no obfuscatedAccountId" in unbound["errors"][0]["message"]
    assert not any(":consume" in uri for uri in play.uris())
    assert await coins_of(mallory.id) == 0
    assert await purchase_count() == 0


async def test_a_replayed_token_credits_once_and_a_failed_consume_is_retried(
    client: AsyncTestClient, settings: Settings, packages: Packages, play: PlayApi
) -> None:
    alice = await make_user()
    android = packages.android.id
    # The first consume fails: the credit stands, the purchase stays unconsumed at Google.
    play.oauth_token().purchase(alice.id).reply({"error": {"code": 503}}, 503)
    # The app sends the unconsumed purchase again, under the same key and under another.
    play.purchase(alice.id).consumed()
    play.purchase(alice.id, consumed=1)

    first = await buy_on_play(client, settings, alice, TOKEN, "k-1", android)
    same_key = await buy_on_play(client, settings, alice, TOKEN, "k-1", android)
    other_key = await buy_on_play(client, settings, alice, TOKEN, "k-2", android)

    assert first["errors"] == []
    assert same_key["errors"] == []
    assert same_key["purchase"]["id"] == first["purchase"]["id"]
    assert error_codes(other_key) == ["RECEIPT_ALREADY_USED"]
    assert await coins_of(alice.id) == 70
    assert await purchase_count() == 1
    assert [uri.endswith(":consume") for uri in play.uris()] == [
        False, False, True, False, True, False
    ]  # fmt: skip
    assert play.responses == []


async def test_google_is_refused_where_it_is_not_configured(
    db: Database, packages: Packages, play: PlayApi, google: GoogleSigner
) -> None:
    settings = db.settings()
    alice = await make_user()

    async with AsyncTestClient(create_app(settings)) as client:
        payload = await buy_on_play(client, settings, alice, TOKEN, "k", packages.android.id)
        status, _ = await push(client, voided(TOKEN), google.push_token())

    assert error_codes(payload) == ["RECEIPT_INVALID"]
    assert payload["errors"][0]["message"] == (
        "Google Play payments are not configured on this server."
    )
    assert status == 401
    assert play.requests == []


async def test_a_voided_notification_claws_the_coins_back_once(
    client: AsyncTestClient,
    settings: Settings,
    packages: Packages,
    play: PlayApi,
    google: GoogleSigner,
) -> None:
    alice = await make_user()
    play.oauth_token().purchase(alice.id).consumed().certs()
    await buy_on_play(client, settings, alice, TOKEN, "k-1", packages.android.id)
    body = voided(TOKEN, "msg-1")

    first = await push(client, body, google.push_token())
    again = await push(client, body, google.push_token())
    # Google may void the same purchase again in another message: still once.
    other = await push(client, voided(TOKEN, "msg-2"), google.push_token())

    assert first == (200, {"status": "processed"})
    assert again == (200, {"status": "duplicate"})
    assert other == (200, {"status": "processed"})
    assert await coins_of(alice.id) == 0
    assert await Purchase.select(Purchase.status).first() == {"status": "REFUNDED"}
    assert (await verify_all()).ok
    # The certificates were fetched once for the three pushes.
    assert play.uris()[-1] == f"GET {CERTS_URL}"
    assert play.responses == []


async def test_a_quantity_based_partial_refund_voids_the_whole_single_unit_purchase(
    client: AsyncTestClient,
    settings: Settings,
    packages: Packages,
    play: PlayApi,
    google: GoogleSigner,
) -> None:
    """Only single-quantity purchases are credited (several at once are RECEIPT_INVALID), so
    a quantity-based partial refund (refundType 2, voidedQuantity 1) voids the one unit
    bought: all of its coins, once, by the notification or by the poll."""
    alice, bob = await make_user(), await make_user()
    play.oauth_token().purchase(alice.id).consumed().purchase(bob.id).consumed().certs()
    await buy_on_play(client, settings, alice, "t-alice", "k-1", packages.android.id)
    await buy_on_play(client, settings, bob, "t-bob", "k-2", packages.android.id)
    play.reply({"voidedPurchases": [{"purchaseToken": "t-bob", "voidedQuantity": 1}]})
    play.reply({"voidedPurchases": [{"purchaseToken": "t-bob", "voidedQuantity": 1}]})

    pushed = await push(client, voided("t-alice", "msg-1", refund_type=2), google.push_token())
    first = await poll_voided_purchases(settings.payments)
    second = await poll_voided_purchases(settings.payments)

    assert pushed == (200, {"status": "processed"})
    assert (first.clawed_back, second.clawed_back) == (1, 0)
    assert await coins_of(alice.id) == 0
    assert await coins_of(bob.id) == 0
    rows = await Purchase.select(Purchase.status, Purchase.refunded_coins).order_by(Purchase.id)
    assert rows == [{"status": "REFUNDED", "refunded_coins": 70}] * 2
    assert play.responses == []
    assert (await verify_all()).ok


async def test_pushes_without_a_valid_google_token_are_refused(
    client: AsyncTestClient,
    settings: Settings,
    packages: Packages,
    play: PlayApi,
    google: GoogleSigner,
) -> None:
    alice = await make_user()
    play.oauth_token().purchase(alice.id).consumed().certs()
    await buy_on_play(client, settings, alice, TOKEN, "k-1", packages.android.id)
    impostor = GoogleSigner(google.account_key, google.account_key, google.push_certificate)
    header, claims, _ = google.push_token().split(".")
    tokens = {
        "missing": None,
        "expired": google.push_token(expires_in=-600),
        "other audience": google.push_token(audience="https://evil.example.com/push"),
        "other account": google.push_token(email="someone@example.iam.gserviceaccount.com"),
        "not google": google.push_token(issuer="https://evil.example.com"),
        "other key": impostor.push_token(),
        "unsigned": f"{header}.{claims}.",
        "hmac": jwt.encode(
            {"aud": PUSH_AUDIENCE}, "a-secret-shared-by-nobody-0123456789", algorithm="HS256"
        ),
    }

    results = {name: await push(client, voided(TOKEN), token) for name, token in tokens.items()}
    basic = await client.post(
        "/webhooks/google", json=voided(TOKEN), headers={"authorization": "Basic abc"}
    )

    assert {name: status for name, (status, _) in results.items()} == {name: 401 for name in tokens}
    assert basic.status_code == 401
    assert await coins_of(alice.id) == 70
    assert await WebhookEvent.count() == 0


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("expired", "Token expired"),
        ("other audience", "Token has wrong audience"),
        ("other account", "not the configured push service account"),
        ("not google", "not issued by Google"),
        ("other key", "Could not verify token signature"),
        ("unknown key id", "Certificate for key id"),
    ],
)
def test_a_push_token_is_refused_for_the_right_reason(
    case: str, reason: str, google: GoogleSigner, play: PlayApi
) -> None:
    other = GoogleSigner(google.account_key, google.account_key, google.push_certificate)
    token = {
        "expired": lambda: google.push_token(expires_in=-600),
        "other audience": lambda: google.push_token(audience="https://evil.example.com/push"),
        "other account": lambda: google.push_token(email="x@example.iam.gserviceaccount.com"),
        "not google": lambda: google.push_token(issuer="https://evil.example.com"),
        "other key": other.push_token,
        "unknown key id": lambda: jwt.encode(
            {"aud": PUSH_AUDIENCE}, google.push_key, algorithm="RS256", headers={"kid": "k9"}
        ),
    }[case]()
    play.certs()

    with pytest.raises(google_module.BadPushToken, match=reason):
        google_module.verify_push_token(f"Bearer {token}", google_payments(google))
    assert google_module.verify_push_token(f"Bearer {google.push_token()}", google_payments(google))


async def test_other_notifications_are_recorded_and_ignored(
    client: AsyncTestClient,
    settings: Settings,
    packages: Packages,
    play: PlayApi,
    google: GoogleSigner,
) -> None:
    play.certs()
    token = google.push_token()
    test_notification = google_push({"testNotification": {"version": "1.0"}})
    purchased = google_push(
        {
            "oneTimeProductNotification": {
                "version": "1.0",
                "notificationType": 1,
                "purchaseToken": "t-9",
                "sku": "coins.70",
            }
        }
    )
    other_app = voided(TOKEN)
    foreign = json.loads(base64.b64decode(other_app["message"]["data"]))
    other_app["message"]["data"] = base64.b64encode(
        json.dumps(foreign | {"packageName": "com.other.app"}).encode()
    ).decode()

    results = [
        await push(client, test_notification, token),
        await push(client, purchased, token),
        # A purchase we never credited (refused, then refunded by Google): nothing to do.
        await push(client, voided("never-credited"), token),
        await push(client, other_app, token),
        await push(client, {"message": {"messageId": "m", "data": "%%%"}}, token),
    ]

    assert [status for status, _ in results] == [200, 200, 200, 400, 400]
    assert [body["status"] for _, body in results[:3]] == ["ignored"] * 3
    assert await WebhookEvent.count() == 3


async def test_the_voided_purchases_poll_claws_back_once(
    client: AsyncTestClient, settings: Settings, packages: Packages, play: PlayApi
) -> None:
    alice, bob = await make_user(), await make_user()
    play.oauth_token().purchase(alice.id).consumed().purchase(bob.id).consumed()
    await buy_on_play(client, settings, alice, "t-alice", "k-1", packages.android.id)
    await buy_on_play(client, settings, bob, "t-bob", "k-2", packages.android.id)
    page_one = {
        "voidedPurchases": [
            {"purchaseToken": "t-alice", "orderId": "GPA.1", "voidedReason": 1},
            {"purchaseToken": "t-unknown", "orderId": "GPA.9", "voidedReason": 0},
        ],
        "tokenPagination": {"nextPageToken": "page-2"},
    }
    page_two = {"voidedPurchases": [{"purchaseToken": "t-bob", "voidedReason": 7}]}
    play.reply(page_one).reply(page_two).reply(page_one).reply(page_two)

    first = await poll_voided_purchases(settings.payments)
    second = await poll_voided_purchases(settings.payments)

    assert (first.voided, first.clawed_back, first.unknown) == (3, 2, 1)
    assert (second.voided, second.clawed_back, second.unknown) == (3, 0, 1)
    assert await coins_of(alice.id) == 0
    assert await coins_of(bob.id) == 0
    reasons = await Purchase.select(Purchase.refund_reason).order_by(Purchase.id)
    assert reasons == [{"refund_reason": "refund"}, {"refund_reason": "chargeback"}]
    list_uri, _, _, _ = play.requests[-1]
    assert list_uri.startswith("https://androidpublisher.googleapis.com/")
    assert "token=page-2" in list_uri
    assert f"/applications/{GOOGLE_PACKAGE}/purchases/voidedpurchases" in list_uri
    assert (await verify_all()).ok


def test_the_poll_runs_from_the_command_line(
    db: Database,
    google: GoogleSigner,
    play: PlayApi,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from app.cli import main

    monkeypatch.setenv("COINS_DATABASE_URL", db.url)
    monkeypatch.setenv("COINS_JWT_SECRET", "cli-test-secret-that-is-long-enough-42")
    assert main(["google", "poll-voided"]) == 1
    assert "not configured" in capsys.readouterr().err

    monkeypatch.setenv("COINS_GOOGLE_PACKAGE_NAME", GOOGLE_PACKAGE)
    monkeypatch.setenv("COINS_GOOGLE_SERVICE_ACCOUNT", google.service_account_json)
    play.oauth_token().reply({"voidedPurchases": [{"purchaseToken": "t-x"}]})
    play.reply({"error": {"code": 403, "message": "no permission"}}, 403)

    assert main(["google", "poll-voided", "--days", "3"]) == 0
    assert "1 voided, 0 clawed back, 1 not credited here" in capsys.readouterr().out
    assert main(["google", "poll-voided"]) == 1
    assert "Google answered 403" in capsys.readouterr().err
    assert play.responses == []

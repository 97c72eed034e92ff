"""APPLE: StoreKit 2 signed transactions and REFUND notifications, signed by our own chain."""

from __future__ import annotations

import pytest
from litestar.testing import AsyncTestClient

from app.fraud import service as fraud
from app.main import create_app
from app.purchases.tables import Purchase, WebhookEvent
from app.settings import PaymentSettings, Settings
from tests.conftest import Database
from tests.factories import coins_of, make_user
from tests.purchases.conftest import Packages
from tests.purchases.helpers import buy, error_codes, purchase_count, token_for
from tests.purchases.signing import BUNDLE_ID, AppleSigner, tamper


async def test_a_signed_transaction_buys_its_package_over_http(
    client: AsyncTestClient, settings: Settings, packages: Packages, apple: AppleSigner
) -> None:
    alice = await make_user()

    payload = await buy(
        client,
        token_for(alice, settings),
        package=packages.ios.id,
        provider="APPLE",
        receipt=apple.transaction("2000000001", "coins.70", account=alice.id),
        key="k-1",
    )

    assert payload["errors"] == []
    assert payload["purchase"]["provider"] == "APPLE"
    assert payload["purchase"]["price"] == {"amount": "0.99", "currencyCode": "USD"}
    assert payload["wallet"]["coins"] == 70
    row = await Purchase.select(Purchase.provider_transaction_id).first()
    assert row == {"provider_transaction_id": "2000000001"}


async def test_tampered_foreign_and_mismatched_transactions_are_invalid(
    client: AsyncTestClient, settings: Settings, packages: Packages, apple: AppleSigner
) -> None:
    alice = await make_user()
    token = token_for(alice, settings)
    stranger = AppleSigner.create()  # a chain the server does not trust

    attempts = {
        "tampered": tamper(
            apple.transaction("t-1", "coins.70", account=alice.id), transactionId="t-2"
        ),
        "other bundle": apple.transaction(
            "t-3", "coins.70", bundle_id="com.other.app", account=alice.id
        ),
        "untrusted chain": stranger.transaction("t-4", "coins.70", account=alice.id),
        "other product": apple.transaction("t-5", "coins.7000", account=alice.id),
    }
    results = {
        name: await buy(
            client, token, package=packages.ios.id, provider="APPLE", receipt=jws, key=name
        )
        for name, jws in attempts.items()
    }

    assert {name: error_codes(p) for name, p in results.items()} == {
        key: ["RECEIPT_INVALID"] for key in attempts
    }
    assert "INVALID_APP_IDENTIFIER" in results["other bundle"]["errors"][0]["message"]
    assert "another product" in results["other product"]["errors"][0]["message"]
    assert await coins_of(alice.id) == 0
    assert await purchase_count() == 0


async def test_an_apple_transaction_cannot_buy_a_web_package(
    client: AsyncTestClient, settings: Settings, packages: Packages, apple: AppleSigner
) -> None:
    alice = await make_user()

    payload = await buy(
        client,
        token_for(alice, settings),
        package=packages.web.id,
        provider="APPLE",
        receipt=apple.transaction("t-1", "coins.70", account=alice.id),
        key="k",
    )

    assert error_codes(payload) == ["PACKAGE_UNAVAILABLE"]
    assert await coins_of(alice.id) == 0


async def test_a_replayed_transaction_is_already_used(
    client: AsyncTestClient, settings: Settings, packages: Packages, apple: AppleSigner
) -> None:
    alice = await make_user()
    token = token_for(alice, settings)
    jws = apple.transaction("t-1", "coins.70", account=alice.id)
    await buy(client, token, package=packages.ios.id, provider="APPLE", receipt=jws, key="k-1")

    # Resigned later (another signedDate), same transaction id.
    replayed = await buy(
        client,
        token,
        package=packages.ios.id,
        provider="APPLE",
        receipt=apple.transaction("t-1", "coins.70", account=alice.id),
        key="k-2",
    )

    assert error_codes(replayed) == ["RECEIPT_ALREADY_USED"]
    assert await coins_of(alice.id) == 70


async def test_a_refund_notification_claws_the_coins_back_once(
    client: AsyncTestClient, settings: Settings, packages: Packages, apple: AppleSigner
) -> None:
    alice = await make_user()
    await buy(
        client,
        token_for(alice, settings),
        package=packages.ios.id,
        provider="APPLE",
        receipt=apple.transaction("t-1", "coins.70", account=alice.id),
        key="k-1",
    )
    notification = apple.refund_notification("t-1", "coins.70")

    first = await client.post("/webhooks/apple", json={"signedPayload": notification})
    again = await client.post("/webhooks/apple", json={"signedPayload": notification})
    # Apple sends a new notification id for a retry of the same refund: still once.
    other_id = await client.post(
        "/webhooks/apple", json={"signedPayload": apple.refund_notification("t-1", "coins.70")}
    )

    assert (first.status_code, first.json()) == (200, {"status": "processed"})
    assert again.json() == {"status": "duplicate"}
    assert other_id.status_code == 200
    assert await coins_of(alice.id) == 0
    assert await Purchase.select(Purchase.status).first() == {"status": "REFUNDED"}
    # Nothing had been spent: no fraud flag.
    assert not await fraud.has_open_flag(alice.id)


async def test_a_notification_with_a_bad_signature_writes_nothing(
    client: AsyncTestClient, settings: Settings, packages: Packages, apple: AppleSigner
) -> None:
    alice = await make_user()
    await buy(
        client,
        token_for(alice, settings),
        package=packages.ios.id,
        provider="APPLE",
        receipt=apple.transaction("t-1", "coins.70", account=alice.id),
        key="k-1",
    )
    forged = tamper(apple.refund_notification("t-1", "coins.70"), notificationType="REFUND")
    stranger = AppleSigner.create().refund_notification("t-1", "coins.70")

    responses = [
        await client.post("/webhooks/apple", json={"signedPayload": forged}),
        await client.post("/webhooks/apple", json={"signedPayload": stranger}),
        await client.post("/webhooks/apple", json={"nothing": 1}),
        await client.post("/webhooks/apple", content=b"not json"),
    ]

    assert [r.status_code for r in responses] == [400, 400, 400, 400]
    assert await coins_of(alice.id) == 70
    assert await WebhookEvent.count() == 0


async def test_a_trusted_chain_without_apples_certificate_oids_is_refused(
    db: Database, packages: Packages
) -> None:
    plain = AppleSigner.create(apple_oids=False)
    settings = db.settings(
        payments=PaymentSettings(
            apple_bundle_id=BUNDLE_ID, apple_root_certificates=(plain.root_der,)
        )
    )
    alice = await make_user()

    async with AsyncTestClient(create_app(settings)) as client:
        payload = await buy(
            client,
            token_for(alice, settings),
            package=packages.ios.id,
            provider="APPLE",
            receipt=plain.transaction("t-1", "coins.70", account=alice.id),
            key="k",
        )

    assert error_codes(payload) == ["RECEIPT_INVALID"]
    assert await coins_of(alice.id) == 0


async def test_apple_receipts_are_invalid_where_apple_is_not_configured(
    db: Database, packages: Packages, apple: AppleSigner
) -> None:
    settings = db.settings()
    alice = await make_user()

    async with AsyncTestClient(create_app(settings)) as client:
        payload = await buy(
            client,
            token_for(alice, settings),
            package=packages.ios.id,
            provider="APPLE",
            receipt=apple.transaction("t-1", "coins.70", account=alice.id),
            key="k",
        )
        notification = await client.post(
            "/webhooks/apple",
            json={"signedPayload": apple.refund_notification("t-1", "coins.70")},
        )

    assert payload["errors"][0]["message"] == "Apple payments are not configured on this server."
    assert notification.status_code == 400


def test_production_without_the_app_apple_id_is_not_configured(apple: AppleSigner) -> None:
    from app.core.errors import DomainError
    from app.purchases.verifiers.apple import AppleVerifier

    verifier = AppleVerifier(
        PaymentSettings(
            apple_bundle_id=BUNDLE_ID,
            apple_environment="Production",
            apple_root_certificates=(apple.root_der,),
        )
    )

    with pytest.raises(DomainError, match="need the app's Apple id"):
        verifier.verify(apple.transaction("t-1", "coins.70", account=1))


async def test_a_transaction_redeems_only_for_the_account_that_bought_it(
    client: AsyncTestClient, settings: Settings, packages: Packages, apple: AppleSigner
) -> None:
    from tests.graphql.helpers import gql

    bob, mallory = await make_user(), await make_user()
    me = await gql(client, "{ me { appAccountToken } }", token=token_for(bob, settings))
    # Bob's app sets his token at purchase; Mallory got hold of the signed transaction.
    bobs = apple.transaction("t-1", "coins.70", account=bob.id)
    assert me["me"]["appAccountToken"] == tokens_payload(bobs)

    stolen = await buy(
        client,
        token_for(mallory, settings),
        package=packages.ios.id,
        provider="APPLE",
        receipt=bobs,
        key="k-1",
    )
    unbound = await buy(
        client,
        token_for(mallory, settings),
        package=packages.ios.id,
        provider="APPLE",
        receipt=apple.transaction("t-2", "coins.70"),
        key="k-2",
    )
    owned = await buy(
        client,
        token_for(bob, settings),
        package=packages.ios.id,
        provider="APPLE",
        receipt=bobs,
        key="k-3",
    )

    assert error_codes(stolen) == ["RECEIPT_INVALID"]
    assert stolen["errors"][0]["message"] == (
        "This App Store transaction was bought by another account."
    )
    assert error_codes(unbound) == ["RECEIPT_INVALID"]
    assert "no appAccountToken" in unbound["errors"][0]["message"]
    assert owned["errors"] == []
    assert await coins_of(mallory.id) == 0
    assert await coins_of(bob.id) == 70


async def test_development_accepts_a_transaction_without_an_account_token(
    db: Database, packages: Packages, apple: AppleSigner
) -> None:
    settings = db.settings(
        env="development",
        payments=PaymentSettings(
            apple_bundle_id=BUNDLE_ID, apple_root_certificates=(apple.root_der,)
        ),
    )
    alice, bob = await make_user(), await make_user()

    async with AsyncTestClient(create_app(settings)) as client:
        unbound = await buy(
            client,
            token_for(alice, settings),
            package=packages.ios.id,
            provider="APPLE",
            receipt=apple.transaction("t-1", "coins.70"),
            key="k-1",
        )
        # Even in development a transaction naming another buyer does not redeem.
        foreign = await buy(
            client,
            token_for(alice, settings),
            package=packages.ios.id,
            provider="APPLE",
            receipt=apple.transaction("t-2", "coins.70", account=bob.id),
            key="k-2",
        )

    assert unbound["errors"] == []
    assert error_codes(foreign) == ["RECEIPT_INVALID"]
    assert await coins_of(alice.id) == 70


def tokens_payload(jws: str) -> str:
    """The appAccountToken a signed transaction carries (its payload, unverified)."""
    import base64
    import json

    body = jws.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))["appAccountToken"]

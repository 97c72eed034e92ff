"""APPLE: partial refunds, reversed refunds and answers to CONSUMPTION_REQUEST."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from litestar.testing import AsyncTestClient

from app import ledger
from app.integrity import verify_all
from app.ledger import AccountCode, Currency, TransferKind
from app.main import create_app
from app.purchases.tables import Purchase, WebhookEvent
from app.settings import Settings
from tests.factories import coins_of, make_user
from tests.purchases.conftest import Packages
from tests.purchases.fake_app_store import ISSUER_ID, KEY_ID, FakeAppStore, fake_app_store
from tests.purchases.helpers import buy, token_for
from tests.purchases.signing import AppleSigner


async def bought(
    client: AsyncTestClient, settings: Settings, packages: Packages, apple: AppleSigner
) -> int:
    alice = await make_user()
    payload = await buy(
        client,
        token_for(alice, settings),
        package=packages.ios.id,
        provider="APPLE",
        receipt=apple.transaction("t-1", "coins.70", account=alice.id),
        key="k-1",
    )
    assert payload["errors"] == []
    return alice.id


async def notify(client: AsyncTestClient, signed: str) -> str:
    response = await client.post("/webhooks/apple", json={"signedPayload": signed})
    return response.json()["status"]


async def spend(user_id: int, coins: int) -> None:
    await ledger.transfer(
        TransferKind.GIFT_SENT,
        debit_account_id=await ledger.user_account_id(user_id, Currency.COIN),
        credit_account_id=await ledger.system_account_id(AccountCode.COIN_SINK),
        amount=coins,
        user_id=user_id,
    )


async def test_a_prorated_refund_claws_back_its_share_and_a_reversal_gives_it_back_once(
    client: AsyncTestClient, settings: Settings, packages: Packages, apple: AppleSigner
) -> None:
    alice = await bought(client, settings, packages, apple)

    def prorated(milli: int) -> str:
        return apple.notification(
            "REFUND",
            "t-1",
            "coins.70",
            revocationType="REFUND_PRORATED",
            revocationPercentage=milli,
            revocationDate=1,
        )

    partial = await notify(client, prorated(33_333))  # a third: floor(70 / 3) = 23
    after_partial = await coins_of(alice)
    reversed_ = await notify(client, apple.notification("REFUND_REVERSED", "t-1", "coins.70"))
    after_reversal = await coins_of(alice)
    again = await notify(client, apple.notification("REFUND_REVERSED", "t-1", "coins.70"))
    full = await notify(client, apple.refund_notification("t-1", "coins.70"))

    assert [partial, reversed_, again, full] == ["processed"] * 4
    assert (after_partial, after_reversal) == (70 - 23, 70)
    assert await coins_of(alice) == 0
    assert await Purchase.select(Purchase.status).first() == {"status": "REFUNDED"}
    assert (await verify_all()).ok


async def test_a_reversed_full_refund_makes_the_purchase_complete_again(
    client: AsyncTestClient, settings: Settings, packages: Packages, apple: AppleSigner
) -> None:
    alice = await bought(client, settings, packages, apple)
    await spend(alice, 60)

    await notify(client, apple.refund_notification("t-1", "coins.70"))
    in_debt = await coins_of(alice)
    await notify(client, apple.notification("REFUND_REVERSED", "t-1", "coins.70"))

    assert in_debt == -60
    assert await coins_of(alice) == 10
    row = await Purchase.select(Purchase.status, Purchase.refunded_coins).first()
    assert row == {"status": "COMPLETED", "refunded_coins": 0}
    assert (await verify_all()).ok


@pytest.fixture
def app_store() -> AsyncIterator[FakeAppStore]:
    with fake_app_store() as store:
        yield store  # type: ignore[misc]


@pytest.fixture
async def consumption_client(
    settings: Settings, app_store: FakeAppStore
) -> AsyncIterator[AsyncTestClient]:
    payments = replace(
        settings.payments,
        apple_api_key_id=KEY_ID,
        apple_api_issuer_id=ISSUER_ID,
        apple_api_private_key=app_store.key_pem,
        apple_api_base_url=app_store.url,
    )
    async with AsyncTestClient(create_app(replace(settings, payments=payments))) as client:
        yield client


async def test_a_consumption_request_is_answered_with_the_share_of_coins_spent(
    consumption_client: AsyncTestClient,
    settings: Settings,
    packages: Packages,
    apple: AppleSigner,
    app_store: FakeAppStore,
) -> None:
    alice = await make_user(coins=30)  # coins from before: spent first
    await buy(
        consumption_client,
        token_for(alice, settings),
        package=packages.ios.id,
        provider="APPLE",
        receipt=apple.transaction("t-1", "coins.70", account=alice.id),
        key="k-1",
    )
    await spend(alice.id, 30 + 35)  # the 30 older coins, then half of the purchase
    request = apple.notification("CONSUMPTION_REQUEST", "t-1", "coins.70")

    first = await notify(consumption_client, request)
    again = await notify(consumption_client, request)
    unknown = await notify(
        consumption_client, apple.notification("CONSUMPTION_REQUEST", "t-9", "coins.70")
    )

    assert [first, again, unknown] == ["processed", "duplicate", "processed"]
    assert app_store.refused == []
    assert app_store.received == [
        (
            "t-1",
            {
                "customerConsented": True,
                "sampleContentProvided": False,
                "deliveryStatus": "DELIVERED",
                "consumptionPercentage": 50_000,
                "refundPreference": "GRANT_PRORATED",
            },
        ),
        (
            "t-9",
            {
                "customerConsented": True,
                "sampleContentProvided": False,
                "deliveryStatus": "UNDELIVERED_OTHER",
                "refundPreference": "GRANT_FULL",
            },
        ),
    ]
    assert await WebhookEvent.count() == 2


async def test_a_consumption_request_is_recorded_when_no_app_store_key_is_configured(
    client: AsyncTestClient, settings: Settings, packages: Packages, apple: AppleSigner
) -> None:
    # ``client`` has no App Store API key configured: nothing is sent, the event is recorded.
    alice = await bought(client, settings, packages, apple)

    status = await notify(client, apple.notification("CONSUMPTION_REQUEST", "t-1", "coins.70"))

    assert status == "processed"
    assert await WebhookEvent.count() == 1
    assert await coins_of(alice) == 70


async def test_a_consumption_answer_apple_refuses_leaves_the_event_recorded(
    settings: Settings, packages: Packages, apple: AppleSigner, app_store: FakeAppStore
) -> None:
    # Signed with another key than the one the App Store knows: refused with 401.
    with fake_app_store() as other:
        payments = replace(
            settings.payments,
            apple_api_key_id=KEY_ID,
            apple_api_issuer_id=ISSUER_ID,
            apple_api_private_key=other.key_pem,
            apple_api_base_url=app_store.url,
        )
        app = create_app(replace(settings, payments=payments))
        async with AsyncTestClient(app) as client:
            status = await notify(
                client, apple.notification("CONSUMPTION_REQUEST", "t-1", "coins.70")
            )

    assert status == "processed"
    assert app_store.received == []
    assert len(app_store.refused) == 1
    assert await WebhookEvent.count() == 1

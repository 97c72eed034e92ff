"""STRIPE: the signed webhook credits the PaymentIntent; purchaseCoins then returns it."""

from __future__ import annotations

import time
from typing import Any

import httpx
from litestar.testing import AsyncTestClient

from app.core.ids import encode_id
from app.ledger.tables import Operation
from app.purchases.tables import Purchase, WebhookEvent
from app.settings import Settings
from app.users.service import UserRecord
from tests.conftest import Database
from tests.factories import coins_of, make_user
from tests.purchases.conftest import Packages
from tests.purchases.helpers import buy, error_codes, package_id, purchase_count, token_for
from tests.purchases.signing import stripe_event, stripe_signature


def succeeded(
    intent_id: str, user: UserRecord, package: int, *, key: str = "k-1", amount: int = 74
) -> dict[str, Any]:
    return {
        "id": intent_id,
        "object": "payment_intent",
        "amount": amount,
        "amount_received": amount,
        "currency": "usd",
        "status": "succeeded",
        "metadata": {
            "user_id": encode_id("User", user.id),
            "package_id": package_id(package),
            "idempotency_key": key,
        },
    }


async def deliver(
    client: AsyncTestClient, payload: bytes, signature: str | None = None
) -> httpx.Response:
    return await client.post(
        "/webhooks/stripe",
        content=payload,
        headers={
            "Stripe-Signature": signature or stripe_signature(payload),
            "Content-Type": "application/json",
        },
    )


async def test_coins_arrive_with_the_webhook_and_purchase_coins_then_returns_them(
    client: AsyncTestClient, settings: Settings, packages: Packages
) -> None:
    alice = await make_user()
    token = token_for(alice, settings)

    early = await buy(
        client, token, package=packages.web.id, provider="STRIPE", receipt="pi_1", key="k-1"
    )
    response = await deliver(
        client, stripe_event("payment_intent.succeeded", succeeded("pi_1", alice, packages.web.id))
    )
    confirmed = await buy(
        client, token, package=packages.web.id, provider="STRIPE", receipt="pi_1", key="k-1"
    )
    other_key = await buy(
        client, token, package=packages.web.id, provider="STRIPE", receipt="pi_1", key="k-2"
    )

    assert early["errors"][0]["code"] == "RECEIPT_INVALID"
    assert "not confirmed yet" in early["errors"][0]["message"]
    assert (response.status_code, response.json()) == (200, {"status": "processed"})
    assert confirmed["errors"] == []
    assert confirmed["purchase"]["provider"] == "STRIPE"
    assert confirmed["purchase"]["price"] == {"amount": "0.74", "currencyCode": "USD"}
    assert confirmed["wallet"]["coins"] == 70
    assert error_codes(other_key) == ["RECEIPT_ALREADY_USED"]
    assert await coins_of(alice.id) == 70


async def test_a_redelivered_event_credits_once(
    client: AsyncTestClient, settings: Settings, packages: Packages
) -> None:
    alice = await make_user()
    payload = stripe_event(
        "payment_intent.succeeded", succeeded("pi_1", alice, packages.web.id), "evt_1"
    )
    # Stripe may also send a second event for the same PaymentIntent.
    second = stripe_event(
        "payment_intent.succeeded", succeeded("pi_1", alice, packages.web.id), "evt_2"
    )

    replies = [await deliver(client, payload), await deliver(client, payload)]
    replies.append(await deliver(client, second))

    assert [r.json()["status"] for r in replies] == ["processed", "duplicate", "processed"]
    assert await coins_of(alice.id) == 70
    assert await purchase_count() == 1


async def test_a_bad_signature_or_old_timestamp_is_rejected_and_writes_nothing(
    client: AsyncTestClient, packages: Packages
) -> None:
    alice = await make_user()
    payload = stripe_event("payment_intent.succeeded", succeeded("pi_1", alice, packages.web.id))

    wrong_secret = await deliver(client, payload, stripe_signature(payload, secret="whsec_other"))
    stale = await deliver(client, payload, stripe_signature(payload, at=int(time.time()) - 301))
    edited_payload = payload.replace(b'"amount": 74', b'"amount": 7')
    assert edited_payload != payload
    edited = await deliver(client, edited_payload, stripe_signature(payload))
    unsigned = await client.post("/webhooks/stripe", content=payload)

    assert [r.status_code for r in (wrong_secret, stale, edited, unsigned)] == [400] * 4
    assert await coins_of(alice.id) == 0
    assert await WebhookEvent.count() == 0
    assert await Operation.count() == 0


async def test_a_timestamp_inside_the_tolerance_is_accepted(
    client: AsyncTestClient, packages: Packages
) -> None:
    alice = await make_user()
    payload = stripe_event("payment_intent.succeeded", succeeded("pi_1", alice, packages.web.id))

    response = await deliver(client, payload, stripe_signature(payload, at=int(time.time()) - 250))

    assert response.status_code == 200
    assert await coins_of(alice.id) == 70


async def test_unknown_event_types_are_acknowledged_and_ignored(client: AsyncTestClient) -> None:
    payload = stripe_event("customer.created", {"id": "cus_1", "object": "customer"})

    response = await deliver(client, payload)

    assert (response.status_code, response.json()) == (200, {"status": "ignored"})
    assert await Operation.count() == 0


async def test_a_payment_for_another_amount_is_refused(
    client: AsyncTestClient, packages: Packages
) -> None:
    alice = await make_user()
    payload = stripe_event(
        "payment_intent.succeeded", succeeded("pi_1", alice, packages.web.id, amount=1)
    )

    response = await deliver(client, payload)

    assert response.status_code == 422
    assert await coins_of(alice.id) == 0
    assert await WebhookEvent.count() == 0


async def test_the_country_price_is_an_accepted_amount(
    client: AsyncTestClient, packages: Packages
) -> None:
    alice = await make_user()
    intent = succeeded("pi_1", alice, packages.web.id, amount=69) | {"currency": "gbp"}

    response = await deliver(client, stripe_event("payment_intent.succeeded", intent))

    assert response.status_code == 200
    row = await Purchase.select(Purchase.price_minor, Purchase.currency).first()
    assert row == {"price_minor": 69, "currency": "GBP"}


async def test_refunds_and_disputes_claw_back_once(
    client: AsyncTestClient, packages: Packages
) -> None:
    alice = await make_user()
    await deliver(
        client, stripe_event("payment_intent.succeeded", succeeded("pi_1", alice, packages.web.id))
    )
    charge = {"id": "ch_1", "object": "charge", "payment_intent": "pi_1", "refunded": True}
    refunded = stripe_event("charge.refunded", charge, "evt_refund")

    replies = [await deliver(client, refunded), await deliver(client, refunded)]
    dispute = {"id": "dp_1", "object": "dispute", "payment_intent": "pi_1", "charge": "ch_1"}
    replies.append(await deliver(client, stripe_event("charge.dispute.created", dispute)))

    assert [r.json()["status"] for r in replies] == ["processed", "duplicate", "processed"]
    assert await coins_of(alice.id) == 0
    assert await Purchase.select(Purchase.status).first() == {"status": "REFUNDED"}


async def test_a_refund_before_its_payment_is_delivered_again_later(
    client: AsyncTestClient, packages: Packages
) -> None:
    alice = await make_user()
    charge = {"id": "ch_1", "object": "charge", "payment_intent": "pi_1"}
    refunded = stripe_event("charge.refunded", charge, "evt_refund")

    too_early = await deliver(client, refunded)
    await deliver(
        client, stripe_event("payment_intent.succeeded", succeeded("pi_1", alice, packages.web.id))
    )
    redelivered = await deliver(client, refunded)

    assert too_early.status_code == 409
    assert redelivered.json() == {"status": "processed"}
    assert await coins_of(alice.id) == 0


async def test_a_payment_still_credits_when_its_key_was_used_for_something_else(
    client: AsyncTestClient, settings: Settings, packages: Packages
) -> None:
    alice = await make_user()
    token = token_for(alice, settings)
    await buy(client, token, package=packages.web.id, receipt="sandbox-1", key="k-1")

    response = await deliver(
        client,
        stripe_event("payment_intent.succeeded", succeeded("pi_1", alice, packages.web.id)),
    )
    claim = await buy(
        client, token, package=packages.web.id, provider="STRIPE", receipt="pi_1", key="k-1"
    )

    assert response.json() == {"status": "processed"}
    assert await coins_of(alice.id) == 140
    assert error_codes(claim) == ["IDEMPOTENCY_KEY_REUSED"]


async def test_an_event_with_unusable_metadata_is_refused_and_writes_nothing(
    client: AsyncTestClient, packages: Packages
) -> None:
    alice = await make_user()
    no_user = succeeded("pi_1", alice, packages.web.id)
    no_user["metadata"] = {"package_id": package_id(packages.web.id)}
    unknown_package = succeeded("pi_2", alice, 999_999)

    replies = [
        await deliver(client, stripe_event("payment_intent.succeeded", no_user)),
        await deliver(client, stripe_event("payment_intent.succeeded", unknown_package)),
    ]

    assert [r.status_code for r in replies] == [422, 422]
    assert await coins_of(alice.id) == 0
    assert await WebhookEvent.count() == 0
    assert await Operation.count() == 0


async def test_webhooks_are_refused_where_stripe_is_not_configured(db: Database) -> None:
    from app.main import create_app

    payload = stripe_event("customer.created", {"id": "cus_1"})
    async with AsyncTestClient(create_app(db.settings())) as client:
        response = await deliver(client, payload)

    assert response.status_code == 400
    assert await WebhookEvent.count() == 0


async def test_concurrent_deliveries_of_one_event_credit_once(packages: Packages) -> None:
    import asyncio
    import json

    from app.purchases import notifications

    alice = await make_user()
    event = json.loads(
        stripe_event("payment_intent.succeeded", succeeded("pi_1", alice, packages.web.id))
    )

    outcomes = await asyncio.gather(*(notifications.handle_stripe_event(event) for _ in range(5)))

    assert sorted(o.value for o in outcomes) == ["duplicate"] * 4 + ["processed"]
    assert await coins_of(alice.id) == 70
    assert await purchase_count() == 1


async def test_a_webhook_payment_of_a_minor_or_frozen_account_is_held_not_credited(
    client: AsyncTestClient, packages: Packages
) -> None:
    from app.users import service as users
    from tests.factories import staff

    minor = await make_user(age=15)
    frozen = await make_user()
    await users.set_frozen(frozen.id, frozen=True, reason="fraud ring", actor=staff("mo"))

    replies = [
        await deliver(
            client,
            stripe_event(
                "payment_intent.succeeded", succeeded(f"pi_{user.id}", user, packages.web.id)
            ),
        )
        for user in (minor, frozen)
    ]
    held = await Purchase.select(Purchase.user_id, Purchase.status).order_by(Purchase.id)
    # Support refunds it through Stripe: the purchase closes, no coins to claw back.
    charge = {"id": "ch_1", "object": "charge", "payment_intent": f"pi_{minor.id}"}
    refund = await deliver(client, stripe_event("charge.refunded", charge, "evt_refund"))

    assert [r.json()["status"] for r in replies] == ["processed", "processed"]
    assert held == [
        {"user_id": minor.id, "status": "HELD"},
        {"user_id": frozen.id, "status": "HELD"},
    ]
    assert await coins_of(minor.id) == 0
    assert await coins_of(frozen.id) == 0
    assert refund.json() == {"status": "processed"}
    assert await Purchase.select(Purchase.status).where(Purchase.user_id == minor.id).first() == {
        "status": "REFUNDED"
    }
    assert await coins_of(minor.id) == 0

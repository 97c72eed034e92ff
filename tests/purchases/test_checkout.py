"""Web checkout: createCheckout makes a Stripe PaymentIntent (real ``stripe`` library, local
fake API), and its signed ``payment_intent.succeeded`` webhook credits that package once, at
the bound price only."""

from __future__ import annotations

import asyncio

from litestar.testing import AsyncTestClient

from app.core.errors import DomainError, ErrorCode
from app.core.ids import encode_id
from app.fraud.tables import FraudFlag
from app.purchases import checkout as checkouts
from app.purchases.tables import Checkout, Purchase
from app.settings import Settings
from app.users import service as users
from tests.factories import coins_of, make_user, staff
from tests.purchases.conftest import Packages
from tests.purchases.fake_stripe import FakeStripe
from tests.purchases.helpers import (
    buy,
    create_checkout,
    error_codes,
    package_id,
    purchase_count,
    token_for,
)
from tests.purchases.signing import stripe_event
from tests.purchases.test_stripe import deliver


async def test_a_checkout_binds_user_package_and_country_price_in_stripe(
    client: AsyncTestClient, settings: Settings, packages: Packages, fake_stripe: FakeStripe
) -> None:
    alice = await make_user()
    token = token_for(alice, settings)

    default = await create_checkout(client, token, package=packages.web.id, key="c-1")
    british = await create_checkout(client, token, package=packages.web.id, key="c-2", country="gb")

    assert default["errors"] == []
    assert british["errors"] == []
    checkout = default["checkout"]
    intent = fake_stripe.intents[checkout["paymentIntentId"]]
    assert checkout["clientSecret"] == intent["client_secret"]
    assert checkout["amount"] == {"amount": "0.74", "currencyCode": "USD"}
    assert checkout["status"] == "OPEN"
    assert checkout["package"] == {"id": package_id(packages.web.id), "coins": 70}
    assert (intent["amount"], intent["currency"]) == (74, "usd")
    assert intent["metadata"] == {
        "coins_checkout": "1",
        "user_id": encode_id("User", alice.id),
        "package_id": package_id(packages.web.id),
        "price_minor": "74",
        "currency": "USD",
        "idempotency_key": "c-1",
    }
    assert british["checkout"]["amount"] == {"amount": "0.69", "currencyCode": "GBP"}
    assert fake_stripe.intents[british["checkout"]["paymentIntentId"]]["currency"] == "gbp"
    assert f"coins-checkout-{alice.id}-c-1" in fake_stripe.replies


async def test_the_same_key_returns_the_same_checkout_and_another_input_is_refused(
    client: AsyncTestClient, settings: Settings, packages: Packages, fake_stripe: FakeStripe
) -> None:
    alice = await make_user()
    token = token_for(alice, settings)

    first = await create_checkout(client, token, package=packages.web.id, key="c-1")
    again = await create_checkout(client, token, package=packages.web.id, key="c-1")
    other = await create_checkout(client, token, package=packages.web_big.id, key="c-1")

    assert again["checkout"] == first["checkout"]
    assert error_codes(other) == ["IDEMPOTENCY_KEY_REUSED"]
    assert fake_stripe.creations == 1
    assert await Checkout.count() == 1


async def test_concurrent_checkouts_with_one_key_make_one_payment_intent(
    settings: Settings, packages: Packages, fake_stripe: FakeStripe
) -> None:
    alice = await make_user()

    started = await asyncio.gather(
        *(
            checkouts.create_checkout(
                user_id=alice.id,
                package_id=packages.web.id,
                country=None,
                idempotency_key="c-1",
                payments=settings.payments,
                limits=settings.purchase_limits,
            )
            for _ in range(3)
        )
    )

    assert len({s.checkout.payment_intent_id for s in started}) == 1
    assert len({s.client_secret for s in started}) == 1
    assert fake_stripe.creations == 1
    assert await Checkout.count() == 1


async def test_the_webhook_credits_the_bound_package_once_and_purchase_coins_returns_it(
    client: AsyncTestClient, settings: Settings, packages: Packages, fake_stripe: FakeStripe
) -> None:
    alice = await make_user()
    token = token_for(alice, settings)
    started = await create_checkout(client, token, package=packages.web_big.id, key="c-1")
    intent_id = started["checkout"]["paymentIntentId"]
    paid = fake_stripe.pay(intent_id)

    replies = [
        await deliver(client, stripe_event("payment_intent.succeeded", paid, "evt_1")),
        await deliver(client, stripe_event("payment_intent.succeeded", paid, "evt_1")),
        await deliver(client, stripe_event("payment_intent.succeeded", paid, "evt_2")),
    ]
    claimed = await buy(
        client, token, package=packages.web_big.id, provider="STRIPE", receipt=intent_id, key="c-1"
    )

    assert [r.json()["status"] for r in replies] == ["processed", "duplicate", "processed"]
    assert await coins_of(alice.id) == 750
    assert await purchase_count() == 1
    assert claimed["errors"] == []
    assert claimed["purchase"]["price"] == {"amount": "7.49", "currencyCode": "USD"}
    row = await Checkout.select(Checkout.status, Checkout.purchase_id).first()
    purchase = await Purchase.select(Purchase.id).first()
    assert row == {"status": "PAID", "purchase_id": purchase["id"]}


async def test_the_checkout_decides_the_package_not_edited_metadata(
    client: AsyncTestClient, settings: Settings, packages: Packages, fake_stripe: FakeStripe
) -> None:
    alice = await make_user()
    mallory = await make_user()
    started = await create_checkout(
        client, token_for(alice, settings), package=packages.web.id, key="c-1"
    )
    paid = fake_stripe.pay(started["checkout"]["paymentIntentId"])
    paid["metadata"] = paid["metadata"] | {
        "user_id": encode_id("User", mallory.id),
        "package_id": package_id(packages.web_big.id),
    }

    response = await deliver(client, stripe_event("payment_intent.succeeded", paid))

    assert response.json() == {"status": "processed"}
    assert (await coins_of(alice.id), await coins_of(mallory.id)) == (70, 0)


async def test_a_payment_of_another_amount_or_currency_is_recorded_not_credited(
    client: AsyncTestClient, settings: Settings, packages: Packages, fake_stripe: FakeStripe
) -> None:
    alice = await make_user()
    token = token_for(alice, settings)
    short = await create_checkout(client, token, package=packages.web_big.id, key="c-1")
    other_currency = await create_checkout(client, token, package=packages.web.id, key="c-2")
    short_id = short["checkout"]["paymentIntentId"]
    other_id = other_currency["checkout"]["paymentIntentId"]

    replies = [
        await deliver(
            client,
            stripe_event("payment_intent.succeeded", fake_stripe.pay(short_id, amount=74)),
        ),
        await deliver(
            client,
            stripe_event("payment_intent.succeeded", fake_stripe.pay(other_id, currency="gbp")),
        ),
    ]
    claim = await buy(
        client, token, package=packages.web_big.id, provider="STRIPE", receipt=short_id, key="c-1"
    )

    assert [r.json()["status"] for r in replies] == ["amount_mismatch"] * 2
    assert await coins_of(alice.id) == 0
    assert await purchase_count() == 0
    rows = await Checkout.select(
        Checkout.status, Checkout.paid_minor, Checkout.paid_currency
    ).order_by(Checkout.id)
    assert rows == [
        {"status": "AMOUNT_MISMATCH", "paid_minor": 74, "paid_currency": "USD"},
        {"status": "AMOUNT_MISMATCH", "paid_minor": 74, "paid_currency": "GBP"},
    ]
    flags = await FraudFlag.select(FraudFlag.rule, FraudFlag.subject_user_id)
    assert flags == [{"rule": "PAYMENT_AMOUNT_MISMATCH", "subject_user_id": alice.id}] * 2
    assert error_codes(claim) == ["PAYMENT_AMOUNT_MISMATCH"]


async def test_a_webhook_before_its_checkout_is_recorded_is_delivered_again(
    client: AsyncTestClient, packages: Packages
) -> None:
    alice = await make_user()
    intent = {
        "id": "pi_unknown",
        "object": "payment_intent",
        "amount": 74,
        "amount_received": 74,
        "currency": "usd",
        "metadata": {
            "coins_checkout": "1",
            "user_id": encode_id("User", alice.id),
            "package_id": package_id(packages.web.id),
        },
    }

    response = await deliver(client, stripe_event("payment_intent.succeeded", intent))

    assert response.status_code == 409
    assert await coins_of(alice.id) == 0


async def test_minors_frozen_accounts_and_store_packages_cannot_check_out(
    client: AsyncTestClient, settings: Settings, packages: Packages, fake_stripe: FakeStripe
) -> None:
    minor = await make_user(age=15)
    frozen = await make_user()
    adult = await make_user()
    await users.set_frozen(frozen.id, frozen=True, reason="review", actor=staff("mo"))

    refused = [
        await create_checkout(client, token_for(minor, settings), package=packages.web.id, key="k"),
        await create_checkout(
            client, token_for(frozen, settings), package=packages.web.id, key="k"
        ),
        await create_checkout(client, token_for(adult, settings), package=packages.ios.id, key="k"),
    ]

    assert [error_codes(r) for r in refused] == [
        ["AGE_RESTRICTED"],
        ["ACCOUNT_FROZEN"],
        ["PACKAGE_UNAVAILABLE"],
    ]
    assert fake_stripe.creations == 0
    assert await Checkout.count() == 0


async def test_stripe_errors_and_a_missing_key_answer_provider_unavailable(
    db, settings: Settings, packages: Packages, fake_stripe: FakeStripe
) -> None:
    from dataclasses import replace

    alice = await make_user()
    fake_stripe.fail_next = (400, {"error": {"type": "invalid_request_error", "message": "no"}})
    unconfigured = replace(settings.payments, stripe_secret_key="")
    outcomes = []
    for payments in (settings.payments, unconfigured):
        try:
            await checkouts.create_checkout(
                user_id=alice.id,
                package_id=packages.web.id,
                country=None,
                idempotency_key="c-1",
                payments=payments,
                limits=settings.purchase_limits,
            )
        except DomainError as error:
            outcomes.append(error.code)

    assert outcomes == [ErrorCode.PAYMENT_PROVIDER_UNAVAILABLE] * 2
    assert await Checkout.count() == 0


async def test_a_checkout_over_the_purchase_limit_is_refused_before_stripe(
    client: AsyncTestClient, settings: Settings, packages: Packages, fake_stripe: FakeStripe
) -> None:
    from app.purchases import limits as purchase_limits
    from app.spending.service import Limits

    alice = await make_user()
    token = token_for(alice, settings)
    await purchase_limits.set_limits(alice.id, Limits(daily=500), raise_delay_s=3600)

    small = await create_checkout(client, token, package=packages.web.id, key="c-1")
    big = await create_checkout(client, token, package=packages.web_big.id, key="c-2")

    assert small["errors"] == []
    assert error_codes(big) == ["PURCHASE_LIMIT_REACHED"]
    assert "daily purchase limit" in big["errors"][0]["message"]
    assert fake_stripe.creations == 1

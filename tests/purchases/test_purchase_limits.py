"""Limits on buying coins: the user's own per day/week/month (lowered at once, raised after
24 h), the young-account cap, refusals where no money moved, and already-paid receipts
credited but marked over the limit."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from litestar.testing import AsyncTestClient

from app.core.clock import set_clock
from app.core.errors import DomainError, ErrorCode
from app.core.money import Money
from app.integrity import verify_all
from app.purchases import limits as purchase_limits
from app.purchases.limits import LimitKind
from app.purchases.tables import Checkout, Purchase
from app.settings import PurchaseLimitSettings, Settings
from app.spending.service import Limits
from app.users.service import get_user
from app.users.tables import User
from tests.factories import coins_of, make_stream, make_user
from tests.graphql.helpers import gql
from tests.purchases.conftest import Packages
from tests.purchases.fake_stripe import FakeStripe
from tests.purchases.helpers import buy, create_checkout, error_codes, token_for
from tests.purchases.signing import stripe_event
from tests.purchases.test_stripe import succeeded

DAY = 24 * 3600
LIMITS = PurchaseLimitSettings()


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now
        set_clock(lambda: self.now)

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


async def grown_up(user_id: int) -> None:
    """Past the young-account days, so only the user's own limits apply."""
    await User.update({User.created_at: datetime(2026, 1, 1, tzinfo=UTC)}).where(User.id == user_id)


# Service ---------------------------------------------------------------------------------


def test_other_currencies_count_at_the_static_rate_rounded_up() -> None:
    assert purchase_limits.to_reference(Money(100, "USD"), LIMITS) == 100
    assert purchase_limits.to_reference(Money(69, "GBP"), LIMITS) == 90  # 0.69 GBP at 1.30
    assert purchase_limits.to_reference(Money(1, "EUR"), LIMITS) == 2  # 1.1 cents, up
    assert purchase_limits.to_reference(Money(1000, "JPY"), LIMITS) == 700  # no minor unit
    assert purchase_limits.to_reference(Money(1, "XYZ"), LIMITS) is None


@pytest.mark.parametrize("period", ["daily", "weekly", "monthly"])
async def test_each_period_refuses_what_would_cross_it(db, period: str) -> None:
    Clock(datetime(2026, 11, 25, 12, tzinfo=UTC))
    alice = await make_user()
    await grown_up(alice.id)
    await purchase_limits.set_limits(alice.id, Limits(**{period: 1_000}), raise_delay_s=DAY)
    alice = await get_user(alice.id)

    allowed = await purchase_limits.ensure_purchase_allowed(alice, Money(1_000, "USD"), LIMITS)
    with pytest.raises(DomainError) as refused:
        await purchase_limits.ensure_purchase_allowed(alice, Money(1_001, "USD"), LIMITS)

    assert allowed.binding is LimitKind(period.upper())
    assert refused.value.code is ErrorCode.PURCHASE_LIMIT_REACHED


async def test_a_lower_limit_applies_at_once_and_a_higher_one_after_24_hours(db) -> None:
    clock = Clock(datetime(2026, 11, 25, 12, tzinfo=UTC))
    alice = await make_user()

    await purchase_limits.set_limits(alice.id, Limits(daily=5_000), raise_delay_s=DAY)
    raised = await purchase_limits.set_limits(alice.id, Limits(daily=9_000), raise_delay_s=DAY)
    clock.advance(hours=23)
    before = await purchase_limits.limits_of(alice.id)
    clock.advance(hours=1)
    after = await purchase_limits.limits_of(alice.id)

    assert raised.current.daily == 5_000
    assert raised.pending == Limits(daily=9_000)
    assert before.current.daily == 5_000
    assert after.current.daily == 9_000


async def test_young_accounts_have_a_daily_platform_cap(db) -> None:
    clock = Clock(datetime(2026, 11, 25, 12, tzinfo=UTC))
    settings = replace(LIMITS, new_account_days=7, new_account_daily_minor=5_000)
    alice = await make_user()

    young = await purchase_limits.allowance_of(alice, settings)
    clock.advance(days=7)
    grown = await purchase_limits.allowance_of(alice, settings)

    assert (young.binding, young.remaining) == (LimitKind.NEW_ACCOUNT, 5_000)
    assert (grown.binding, grown.remaining) == (None, None)


# Already paid: credited, marked, and blocking checkouts ----------------------------------


async def test_a_paid_receipt_over_the_limit_is_credited_marked_and_blocks_checkouts(
    client: AsyncTestClient, settings: Settings, packages: Packages, fake_stripe: FakeStripe
) -> None:
    clock = Clock(datetime(2026, 11, 25, 12, tzinfo=UTC))
    alice = await make_user()
    await grown_up(alice.id)
    token = token_for(alice, settings)
    await purchase_limits.set_limits(alice.id, Limits(daily=100), raise_delay_s=DAY)

    within = await buy(client, token, package=packages.ios.id, receipt="r-1", key="k-1")
    over = await buy(client, token, package=packages.ios.id, receipt="r-2", key="k-2")
    blocked = await create_checkout(client, token, package=packages.web.id, key="c-1")
    clock.advance(days=1)
    next_day = await create_checkout(client, token, package=packages.web.id, key="c-2")

    assert within["errors"] == []
    assert over["errors"] == []
    assert await coins_of(alice.id) == 140
    shown = await gql(client, "{ me { purchases { edges { node { overLimit } } } } }", token=token)
    assert [e["node"]["overLimit"] for e in shown["me"]["purchases"]["edges"]] == [True, False]
    assert error_codes(blocked) == ["PURCHASE_LIMIT_REACHED"]
    assert next_day["errors"] == []
    assert fake_stripe.creations == 1


async def test_a_stripe_webhook_over_the_young_account_cap_is_credited_and_marked(
    db, packages: Packages, settings: Settings
) -> None:
    from app.purchases import notifications

    Clock(datetime(2026, 11, 25, 12, tzinfo=UTC))
    alice = await make_user()
    tight = replace(settings.purchase_limits, new_account_daily_minor=100)

    outcomes = []
    for intent_id in ("pi_1", "pi_2"):
        event = json.loads(
            stripe_event(
                "payment_intent.succeeded",
                succeeded(intent_id, alice, packages.web.id, key=intent_id),
            )
        )
        outcomes.append(await notifications.handle_stripe_event(event, tight))

    assert [o.value for o in outcomes] == ["processed", "processed"]
    assert await coins_of(alice.id) == 140
    marks = await Purchase.select(Purchase.over_limit).order_by(Purchase.id)
    assert marks == [{"over_limit": False}, {"over_limit": True}]


async def test_refunded_purchases_do_not_count(
    client: AsyncTestClient, settings: Settings, packages: Packages
) -> None:
    from app.purchases.codes import Provider
    from app.purchases.refunds import refund_purchase

    Clock(datetime(2026, 11, 25, 12, tzinfo=UTC))
    alice = await make_user()
    await buy(client, token_for(alice, settings), package=packages.ios.id, receipt="r-1", key="k")
    before = await purchase_limits.purchase_totals(alice.id, LIMITS)
    await refund_purchase(Provider.SANDBOX, "r-1", reason="refund")

    assert before.today == 99
    assert await purchase_limits.purchase_totals(alice.id, LIMITS) == (
        purchase_limits.PurchaseTotals("USD", 0, 0, 0)
    )


# GraphQL ---------------------------------------------------------------------------------

ALLOWANCE = """
{ me { purchaseAllowance { daily { amount currencyCode } weekly { amount } monthly { amount }
       newAccount { amount } remaining { amount currencyCode } bindingLimit canPurchase }
  spending { moneySpentOnPurchasesToday { amount currencyCode }
             moneySpentOnPurchasesThisWeek { amount } moneySpentOnPurchasesThisMonth { amount }
             purchaseLimits { daily { amount currencyCode } weekly { amount } monthly { amount }
                              pendingDaily { amount } pendingChangeAppliesAt }
             coinsSpentToday } } }
"""

SET_LIMITS = """
mutation Set($input: SetPurchaseLimitsInput!) {
  setPurchaseLimits(input: $input) {
    limits { daily { amount currencyCode } weekly { amount } monthly { amount }
             pendingDaily { amount } pendingChangeAppliesAt }
    errors { code message field }
  }
}
"""


async def test_users_set_limits_and_see_allowance_and_spending(
    client: AsyncTestClient, settings: Settings, packages: Packages
) -> None:
    Clock(datetime(2026, 11, 25, 12, tzinfo=UTC))
    alice = await make_user()
    await grown_up(alice.id)
    token = token_for(alice, settings)

    first = await gql(client, SET_LIMITS, {"input": {"daily": 500, "weekly": 2_000}}, token=token)
    raised = await gql(client, SET_LIMITS, {"input": {"daily": 900, "weekly": 2_000}}, token=token)
    negative = await gql(client, SET_LIMITS, {"input": {"daily": -1}}, token=token)
    await buy(client, token, package=packages.ios.id, receipt="r-1", key="k-1")
    await buy(client, token, package=packages.web.id, receipt="r-2", key="k-2")
    me = (await gql(client, ALLOWANCE, token=token))["me"]

    assert first["setPurchaseLimits"]["limits"]["daily"] == {
        "amount": "5.00",
        "currencyCode": "USD",
    }
    assert raised["setPurchaseLimits"]["limits"]["daily"]["amount"] == "5.00"
    assert raised["setPurchaseLimits"]["limits"]["pendingDaily"] == {"amount": "9.00"}
    assert error_codes(negative["setPurchaseLimits"]) == ["INVALID_INPUT"]
    assert me["purchaseAllowance"] == {
        "daily": {"amount": "3.27", "currencyCode": "USD"},
        "weekly": {"amount": "18.27"},
        "monthly": None,
        "newAccount": None,
        "remaining": {"amount": "3.27", "currencyCode": "USD"},
        "bindingLimit": "DAILY",
        "canPurchase": True,
    }
    spending = me["spending"]
    assert spending["moneySpentOnPurchasesToday"] == {"amount": "1.73", "currencyCode": "USD"}
    assert spending["moneySpentOnPurchasesThisWeek"] == {"amount": "1.73"}
    assert spending["moneySpentOnPurchasesThisMonth"] == {"amount": "1.73"}
    assert spending["purchaseLimits"]["daily"] == {"amount": "5.00", "currencyCode": "USD"}
    assert spending["purchaseLimits"]["pendingDaily"] == {"amount": "9.00"}
    assert spending["coinsSpentToday"] == 0


async def test_the_allowance_is_the_owners_only(
    client: AsyncTestClient, settings: Settings
) -> None:
    from app.core.ids import encode_id

    host = await make_user()
    stream = await make_stream(host)
    viewer = await make_user()

    data = await gql(
        client,
        "query($id: ID!) { liveStream(id: $id) { host { purchaseAllowance { canPurchase } } } }",
        {"id": encode_id("LiveStream", stream.id)},
        token=token_for(viewer, settings),
    )
    mine = await gql(
        client, "{ me { purchaseAllowance { bindingLimit } } }", token=token_for(host, settings)
    )

    assert data["liveStream"]["host"]["purchaseAllowance"] is None
    assert mine["me"]["purchaseAllowance"] == {"bindingLimit": "NEW_ACCOUNT"}


# Open checkouts count until paid or expired ---------------------------------------------


def tight(settings: Settings, daily_minor: int = 1_000) -> Settings:
    """The young-account cap at ``daily_minor`` (10.00 USD): room for one big web package."""
    return replace(
        settings,
        purchase_limits=replace(settings.purchase_limits, new_account_daily_minor=daily_minor),
    )


REMAINING = "{ me { purchaseAllowance { remaining { amount } bindingLimit canPurchase } } }"


async def test_an_open_checkout_counts_once_until_paid_and_stops_counting_when_it_expires(
    settings: Settings, packages: Packages, fake_stripe: FakeStripe
) -> None:
    from app.main import create_app
    from tests.purchases.test_stripe import deliver

    clock = Clock(datetime(2026, 11, 25, 12, tzinfo=UTC))
    strict = tight(settings)
    alice = await make_user()  # young: 10.00 USD a day
    token = token_for(alice, strict)

    async with AsyncTestClient(create_app(strict)) as client:
        first = await create_checkout(client, token, package=packages.web_big.id, key="c-1")
        while_open = await gql(client, REMAINING, token=token)
        second = await create_checkout(client, token, package=packages.web_big.id, key="c-2")
        intent = fake_stripe.pay(first["checkout"]["paymentIntentId"])
        paid = await deliver(client, stripe_event("payment_intent.succeeded", intent, "evt_1"))
        after_paying = await gql(client, REMAINING, token=token)
        small = await create_checkout(client, token, package=packages.web.id, key="c-3")
        with_small_open = await gql(client, REMAINING, token=token)
        clock.advance(hours=1, seconds=1)  # past the default hold of an hour
        small_expired = await gql(client, REMAINING, token=token)

    assert first["errors"] == []
    assert while_open["me"]["purchaseAllowance"] == {
        "remaining": {"amount": "2.51"},
        "bindingLimit": "NEW_ACCOUNT",
        "canPurchase": True,
    }
    # The first is not paid yet, but 7.49 + 7.49 would go over 10.00 once both are.
    assert error_codes(second) == ["PURCHASE_LIMIT_REACHED"]
    assert paid.status_code == 200
    assert await coins_of(alice.id) == 750
    # Paid: counted as money spent, no longer as open, and not over the limit.
    assert after_paying["me"]["purchaseAllowance"]["remaining"] == {"amount": "2.51"}
    assert await Purchase.select(Purchase.over_limit) == [{"over_limit": False}]
    assert small["errors"] == []
    assert with_small_open["me"]["purchaseAllowance"]["remaining"] == {"amount": "1.77"}
    assert small_expired["me"]["purchaseAllowance"]["remaining"] == {"amount": "2.51"}
    assert fake_stripe.creations == 2
    assert (await verify_all()).ok


async def test_two_concurrent_checkouts_cannot_both_pass_the_limit(
    settings: Settings, packages: Packages, fake_stripe: FakeStripe, monkeypatch
) -> None:
    """Both check the limit before either is recorded (each waits for the other at Stripe):
    only one may become a checkout, or both could be paid past the cap."""
    import asyncio

    from app.purchases import checkout as checkouts
    from tests.concurrency.helpers import concurrent_connections, unexpected

    Clock(datetime(2026, 11, 25, 12, tzinfo=UTC))
    strict = tight(settings)
    alice = await make_user()
    both_checked = asyncio.Barrier(2)
    create_intent = checkouts._create_intent

    async def after_both_checked(*args, **kwargs):  # type: ignore[no-untyped-def]
        await asyncio.wait_for(both_checked.wait(), 10)
        return await create_intent(*args, **kwargs)

    monkeypatch.setattr(checkouts, "_create_intent", after_both_checked)
    await concurrent_connections(4)

    outcomes = await asyncio.gather(
        *(
            checkouts.create_checkout(
                user_id=alice.id,
                package_id=packages.web_big.id,
                country=None,
                idempotency_key=key,
                payments=strict.payments,
                limits=strict.purchase_limits,
            )
            for key in ("c-1", "c-2")
        ),
        return_exceptions=True,
    )

    assert unexpected(outcomes) == []
    refused = [o for o in outcomes if isinstance(o, DomainError)]
    assert [r.code for r in refused] == [ErrorCode.PURCHASE_LIMIT_REACHED]
    assert await Checkout.count() == 1
    allowance = await purchase_limits.allowance_of(await get_user(alice.id), strict.purchase_limits)
    assert allowance.remaining == 251

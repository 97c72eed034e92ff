"""Stripe disputes and partial refunds through the signed webhook: held, released, taken."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from app import ledger
from app.core.errors import DomainError, ErrorCode
from app.core.events import bus
from app.fraud import service as fraud
from app.integrity import verify_all
from app.ledger import AccountCode, Currency, TransferKind
from app.purchases import refunds
from app.purchases.codes import Provider
from app.purchases.tables import Dispute, Purchase
from tests.factories import coins_of, make_user
from tests.purchases.conftest import Packages
from tests.purchases.signing import stripe_event
from tests.purchases.test_stripe import deliver, succeeded


@pytest.fixture
def heard() -> Iterator[list[object]]:
    """The loss and restore events the refunds emit (what creators' earnings will hear)."""
    events: list[object] = []

    async def record(event: object) -> None:
        events.append(event)

    removers = [
        bus.subscribe(refunds.PurchaseCoinsLost, record, name="test.lost"),
        bus.subscribe(refunds.PurchaseCoinsRestored, record, name="test.restored"),
    ]
    yield events
    for remove in removers:
        remove()


def dispute(status: str = "needs_response", amount: int = 74, **more: Any) -> dict[str, Any]:
    return {
        "id": "dp_1",
        "object": "dispute",
        "payment_intent": "pi_1",
        "charge": "ch_1",
        "amount": amount,
        "currency": "usd",
        "reason": "fraudulent",
        "status": status,
    } | more


async def paid(client: AsyncTestClient, packages: Packages) -> int:
    alice = await make_user()
    await deliver(
        client, stripe_event("payment_intent.succeeded", succeeded("pi_1", alice, packages.web.id))
    )
    return alice.id


async def spend(user_id: int, coins: int) -> None:
    await ledger.transfer(
        TransferKind.GIFT_SENT,
        debit_account_id=await ledger.user_account_id(user_id, Currency.COIN),
        credit_account_id=await ledger.system_account_id(AccountCode.COIN_SINK),
        amount=coins,
        user_id=user_id,
    )


async def held() -> int:
    return await ledger.system_balance(AccountCode.DISPUTE_HOLD)


async def statuses(*events: bytes, client: AsyncTestClient) -> list[str]:
    return [(await deliver(client, event)).json()["status"] for event in events]


async def test_partial_stripe_refunds_add_up_to_the_whole_purchase(
    client: AsyncTestClient, packages: Packages
) -> None:
    alice = await paid(client, packages)
    charge = {"id": "ch_1", "object": "charge", "payment_intent": "pi_1", "amount": 74}
    first = charge | {"amount_refunded": 20, "refunded": False}
    second = charge | {"amount_refunded": 60, "refunded": False}
    whole = charge | {"amount_refunded": 74, "refunded": True}

    replies = await statuses(
        stripe_event("charge.refunded", first, "evt_r1"),
        stripe_event("charge.refunded", first, "evt_r1"),
        client=client,
    )
    after_first = await coins_of(alice)
    replies += await statuses(
        stripe_event("charge.refunded", second, "evt_r2"),
        stripe_event("charge.refunded", whole, "evt_r3"),
        client=client,
    )

    assert replies == ["processed", "duplicate", "processed", "processed"]
    assert after_first == 70 - 18  # floor(70 * 20 / 74) = 18
    assert await coins_of(alice) == 0
    row = await Purchase.select(Purchase.status, Purchase.refunded_coins).first()
    assert row == {"status": "REFUNDED", "refunded_coins": 70}
    assert (await verify_all()).ok


async def test_a_dispute_holds_the_coins_and_a_won_dispute_releases_them(
    client: AsyncTestClient, packages: Packages, heard: list[object]
) -> None:
    alice = await paid(client, packages)

    opened = await statuses(
        stripe_event("charge.dispute.created", dispute(), "evt_d1"), client=client
    )
    while_open = (await coins_of(alice), await held())
    with pytest.raises(DomainError) as blocked:
        await spend(alice, 1)
    closed = await statuses(
        stripe_event("charge.dispute.closed", dispute("won"), "evt_d2"),
        stripe_event("charge.dispute.closed", dispute("won"), "evt_d2"),
        client=client,
    )

    assert opened + closed == ["processed", "processed", "duplicate"]
    assert while_open == (0, 70)
    assert blocked.value.code is ErrorCode.INSUFFICIENT_FUNDS
    assert (await coins_of(alice), await held()) == (70, 0)
    assert await Dispute.select(Dispute.status, Dispute.coins).first() == {
        "status": "WON",
        "coins": 70,
    }
    assert heard == []  # nothing was lost for good
    assert not await fraud.has_open_flag(alice)
    assert (await verify_all()).ok


async def test_a_lost_dispute_takes_the_held_coins_for_good_even_into_debt(
    client: AsyncTestClient, packages: Packages, heard: list[object]
) -> None:
    alice = await paid(client, packages)
    await spend(alice, 50)

    await deliver(client, stripe_event("charge.dispute.created", dispute(), "evt_d1"))
    while_open = (await coins_of(alice), await held())
    await deliver(client, stripe_event("charge.dispute.closed", dispute("lost"), "evt_d2"))

    assert while_open == (-50, 70)
    assert (await coins_of(alice), await held()) == (-50, 0)
    [lost] = heard
    assert isinstance(lost, refunds.PurchaseCoinsLost)
    assert (lost.user_id, lost.coins) == (alice, 70)
    # The coins had been spent: flagged when the dispute took them.
    assert [f["rule"] for f in await fraud.open_flags(alice)] == ["REFUND_AFTER_SPEND"]
    assert (await verify_all()).ok


async def test_a_dispute_won_after_it_was_lost_gives_the_coins_back_once(
    client: AsyncTestClient, packages: Packages, heard: list[object]
) -> None:
    alice = await paid(client, packages)

    replies = await statuses(
        stripe_event("charge.dispute.created", dispute(), "evt_d1"),
        stripe_event("charge.dispute.closed", dispute("lost"), "evt_d2"),
        stripe_event("charge.dispute.closed", dispute("won"), "evt_d3"),
        stripe_event("charge.dispute.closed", dispute("won"), "evt_d4"),
        client=client,
    )

    assert replies == ["processed"] * 4
    assert (await coins_of(alice), await held()) == (70, 0)
    assert [type(event).__name__ for event in heard] == [
        "PurchaseCoinsLost",
        "PurchaseCoinsRestored",
    ]
    assert await Purchase.select(Purchase.disputed_coins).first() == {"disputed_coins": 0}
    assert (await verify_all()).ok


async def test_a_dispute_closed_before_it_was_opened_is_applied_once(
    client: AsyncTestClient, packages: Packages
) -> None:
    alice = await paid(client, packages)

    lost_first = await statuses(
        stripe_event("charge.dispute.closed", dispute("lost"), "evt_d2"),
        stripe_event("charge.dispute.created", dispute(), "evt_d1"),
        client=client,
    )
    after_lost = (await coins_of(alice), await held())
    won_first = await statuses(
        stripe_event("charge.dispute.closed", dispute("won", id="dp_2"), "evt_d4"),
        stripe_event("charge.dispute.created", dispute(id="dp_2"), "evt_d3"),
        client=client,
    )

    assert lost_first + won_first == ["processed"] * 4
    assert after_lost == (0, 0)
    # The second dispute found nothing left to take and nothing was held for it.
    assert (await coins_of(alice), await held()) == (0, 0)
    rows = await Dispute.select(Dispute.dispute_id, Dispute.status).order_by(Dispute.id)
    assert rows == [
        {"dispute_id": "dp_1", "status": "LOST"},
        {"dispute_id": "dp_2", "status": "WON"},
    ]
    assert (await verify_all()).ok


async def test_a_partial_dispute_holds_its_share_and_a_refund_cannot_take_it_twice(
    client: AsyncTestClient, packages: Packages
) -> None:
    alice = await paid(client, packages)
    await deliver(client, stripe_event("charge.dispute.created", dispute(amount=37), "evt_d1"))
    charge = {"id": "ch_1", "object": "charge", "payment_intent": "pi_1", "amount": 74}

    while_open = (await coins_of(alice), await held())
    await deliver(client, stripe_event("charge.refunded", charge | {"refunded": True}, "evt_r"))

    after_refund = (await coins_of(alice), await held())
    await deliver(client, stripe_event("charge.dispute.closed", dispute("won", 37), "evt_d2"))

    assert while_open == (35, 35)  # floor(70 * 37 / 74)
    # The refund takes what the dispute does not hold, then the held coins: all 70 once.
    assert after_refund == (0, 0)
    # Won after the refund: nothing is held any more, so nothing comes back.
    assert (await coins_of(alice), await held()) == (0, 0)
    assert await Dispute.select(Dispute.status, Dispute.coins).first() == {
        "status": "WON",
        "coins": 0,
    }
    assert (await verify_all()).ok


async def test_a_dispute_before_its_payment_is_delivered_again_later(
    client: AsyncTestClient, packages: Packages
) -> None:
    event = stripe_event("charge.dispute.created", dispute(), "evt_d1")

    too_early = await deliver(client, event)
    alice = await paid(client, packages)
    again = await deliver(client, event)

    assert too_early.status_code == 409
    assert again.json() == {"status": "processed"}
    assert (await coins_of(alice), await held()) == (0, 70)
    assert (await verify_all()).ok


async def test_concurrent_dispute_events_move_the_coins_once(
    client: AsyncTestClient, packages: Packages
) -> None:
    alice = await paid(client, packages)

    opened = await asyncio.gather(
        *(refunds.open_dispute(Provider.STRIPE, "pi_1", "dp_1") for _ in range(3)),
        refunds.refund_purchase(Provider.STRIPE, "pi_1", reason="refund"),
    )
    moved_by_dispute = sum(change.coins for change in opened[:3] if change is not None)
    clawback = opened[3]
    lost = await asyncio.gather(
        *(refunds.close_dispute(Provider.STRIPE, "pi_1", "dp_1", won=False) for _ in range(3))
    )

    assert sum(change is not None for change in opened[:3]) == 1
    # Whichever came first took the coins; the other found none left.
    assert moved_by_dispute + (clawback.coins if clawback else 0) == 70
    assert sum(change is not None for change in lost) == 1
    assert (await coins_of(alice), await held()) == (0, 0)
    assert (await verify_all()).ok


async def test_a_buyer_is_contested_while_a_dispute_is_open_and_after_it_is_lost(
    client: AsyncTestClient, packages: Packages
) -> None:
    """Auto-approval asks this before it pays a creator the buyer gifted."""
    from datetime import timedelta

    from app.core.clock import utcnow
    from app.purchases.contested import buyers_with_contested_purchases

    alice = await paid(client, packages)
    bob = await make_user()
    since = utcnow() - timedelta(days=1)
    assert await buyers_with_contested_purchases([alice, bob.id], since) == set()

    await statuses(stripe_event("charge.dispute.created", dispute(), "evt_d1"), client=client)
    assert await buyers_with_contested_purchases([alice, bob.id], since) == {alice}

    await statuses(stripe_event("charge.dispute.closed", dispute("lost"), "evt_d2"), client=client)
    assert await buyers_with_contested_purchases([alice, bob.id], since) == {alice}
    assert await buyers_with_contested_purchases([alice], utcnow() + timedelta(seconds=1)) == set()
    assert (await verify_all()).ok

"""A refund's coins are traced to the gifts they paid for: maturing ones reversed, creators
flagged, and auto-approval leaves creators gifted by refunded buyers to staff."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from app.audit.service import Actor
from app.core.clock import set_clock
from app.core.errors import DomainError, ErrorCode
from app.fraud import review, tracing
from app.fraud import service as fraud
from app.fraud.codes import FlagStatus, FraudRule, Severity
from app.fraud.tables import GiftReversal
from app.integrity import verify_all
from app.payouts import service as payouts
from app.payouts.codes import PayoutStatus
from app.purchases import buying, refunds
from app.purchases.codes import Provider
from app.purchases.verifiers.sandbox import SandboxVerifier
from app.settings import EconomySettings, PayoutSettings, Settings
from tests.factories import (
    coins_of,
    diamonds_of,
    make_gift,
    make_stream,
    make_user,
    send,
    subscribed,
)
from tests.purchases.conftest import Packages

T0 = datetime(2026, 11, 1, 12, tzinfo=UTC)
MOD = Actor(staff_id=None, handle="mod", role="MODERATOR")


async def buy(user_id: int, package_id: int, receipt: str) -> buying.PurchaseRecord:
    return await buying.purchase_coins(
        user_id=user_id,
        package_id=package_id,
        provider=Provider.SANDBOX,
        receipt=receipt,
        idempotency_key=receipt,
        verifier=SandboxVerifier(enabled=True),
    )


def evidence_of(flag: dict) -> dict:
    found = flag["evidence"]
    return found if isinstance(found, dict) else json.loads(found)


async def creator_flags(creator_id: int) -> list[dict]:
    return [
        flag
        for flag in await fraud.open_flags(creator_id)
        if flag["rule"] == FraudRule.REFUNDED_COINS_GIFTED.value
    ]


async def test_a_refund_reverses_the_maturing_gifts_it_paid_for_and_flags_their_creators(
    packages: Packages,
) -> None:
    set_clock(lambda: T0 - timedelta(hours=1))
    buyer = await make_user(coins=510)
    ana, ben = await make_user("ana"), await make_user("ben")
    ana_live, ben_live = await make_stream(ana), await make_stream(ben)
    before = await send(buyer, ana_live, await make_gift(coins=500))  # own coins: not traced
    set_clock(lambda: T0)
    bought = await buy(buyer.id, packages.web_big.id, "r-1")  # 750 coins
    matured = await send(buyer, ana_live, await make_gift(coins=400))
    set_clock(lambda: T0 + timedelta(days=15))  # ana's gift of the purchase has matured
    maturing = await send(buyer, ben_live, await make_gift(coins=350))
    beyond = await send(buyer, ben_live, await make_gift(coins=2))  # past the 750
    assert await coins_of(buyer.id) == 510 + 750 - 500 - 400 - 350 - 2

    # The default wiring (14 days) traces the clawback after it commits.
    await refunds.refund_purchase(Provider.SANDBOX, "r-1", reason="chargeback")

    reversed_ids = [row["gift_event_id"] for row in await GiftReversal.select()]
    assert reversed_ids == [maturing.event.id]
    assert await coins_of(buyer.id) == 8 - 750 + 350  # the reversal pays back part of the debt
    assert await diamonds_of(ben.id) == 1  # 175 reversed; the gift beyond the 750 kept
    assert await diamonds_of(ana.id) == 250 + 200  # matured: kept
    [ana_flag], [ben_flag] = await creator_flags(ana.id), await creator_flags(ben.id)
    assert ana_flag["severity"] == "HIGH"
    assert evidence_of(ana_flag) == {
        "buyer_id": buyer.id,
        "purchase_id": bought.id,
        "clawed_back_coins": 750,
        "gift_event_ids": [matured.event.id],
        "gift_coins": 400,
        "reversed_gift_event_ids": [],
        "reversed_diamonds": 0,
        "matured_diamonds_kept": 200,
    }
    assert evidence_of(ben_flag)["gift_event_ids"] == [maturing.event.id]
    assert evidence_of(ben_flag)["reversed_gift_event_ids"] == [maturing.event.id]
    assert evidence_of(ben_flag)["reversed_diamonds"] == 175
    assert before.event.id not in evidence_of(ana_flag)["gift_event_ids"]
    assert beyond.event.id not in evidence_of(ben_flag)["gift_event_ids"]

    # Again (fraud scan), after a moderator dismissed ana's flag: nothing more happens.
    await fraud.dismiss_flag(ana_flag["id"], actor=MOD, note="known fan")
    again = await tracing.trace_refunded_coins(bought.id, maturation_days=14)
    assert again.gift_event_ids == [matured.event.id, maturing.event.id]
    assert again.reversed_event_ids == [maturing.event.id]
    assert again.flagged_creator_ids == []
    assert await GiftReversal.count() == 1
    assert await creator_flags(ana.id) == []
    assert await coins_of(buyer.id) == -392
    assert (await verify_all()).ok


async def test_a_gift_a_moderator_reversed_is_not_traced_twice(packages: Packages) -> None:
    set_clock(lambda: T0)
    buyer, host = await make_user(), await make_user()
    live = await make_stream(host)
    bought = await buy(buyer.id, packages.web_big.id, "r-1")
    first = await send(buyer, live, await make_gift(coins=400))
    second = await send(buyer, live, await make_gift(coins=350))
    await review.reverse_gift(first.event.id, actor=MOD, reason="looked wrong")

    # The default wiring traces the refund; the trace run again finds the same.
    await refunds.refund_purchase(Provider.SANDBOX, "r-1", reason="chargeback")
    trace = await tracing.trace_refunded_coins(bought.id, maturation_days=14)

    assert trace.gift_event_ids == [second.event.id]
    assert trace.reversed_event_ids == [second.event.id]
    assert await coins_of(buyer.id) == 400 - 750 + 350
    assert await diamonds_of(host.id) == 0
    assert (await verify_all()).ok


async def test_auto_approval_leaves_a_creator_gifted_by_a_refunded_buyer_to_staff(
    packages: Packages,
) -> None:
    set_clock(lambda: T0 - timedelta(days=60))
    tainted, clean = await make_user("tainted"), await make_user("clean")
    set_clock(lambda: T0)
    cheat, fan = await make_user("cheat"), await make_user("fan")
    await buy(cheat.id, packages.web_big.id, "cheat-1")
    await buy(fan.id, packages.web_big.id, "fan-1")
    gift = await make_gift(coins=700)
    await send(cheat, await make_stream(tainted), gift)
    await send(fan, await make_stream(clean), gift)
    await diamonds_of(clean.id)  # settled
    # Paid at once, auto-approved: only the refund check stands in the way.
    app = Settings(
        env="test",
        economy=EconomySettings(minimum_payout_diamonds=100, earnings_maturation_days=0),
        payouts=PayoutSettings(auto_approve=True),
    )

    with subscribed(app):
        await refunds.refund_purchase(Provider.SANDBOX, "cheat-1", reason="chargeback")
        [flag] = await creator_flags(tainted.id)
        await fraud.dismiss_flag(flag["id"], actor=MOD, note="looks like a fan")
        assert not await fraud.has_open_flag(tainted.id)
        held = await payouts.request_payout(tainted.id, 350, "t", economy=app.economy)
        paid = await payouts.request_payout(clean.id, 350, "c", economy=app.economy)

    assert await diamonds_of(tainted.id) == 0  # held, nothing reversed: no window
    assert (await payouts.get_payout(held.id)).status is PayoutStatus.PENDING
    assert (await payouts.get_payout(paid.id)).status is PayoutStatus.PAID
    assert not await tracing.creator_cleared(tainted.id, app.fraud)
    assert await tracing.creator_cleared(clean.id, app.fraud)
    assert (await verify_all()).ok


async def test_an_open_flag_alone_keeps_auto_approval_away() -> None:
    creator = await make_user()
    await fraud.raise_flag(creator.id, FraudRule.CREATOR_REPORT, Severity.LOW, {})

    assert not await tracing.creator_cleared(creator.id, Settings(env="test").fraud)
    [flag] = await fraud.list_flags(subject_user_id=creator.id)
    assert flag.status is FlagStatus.OPEN


async def test_a_second_partial_refund_reverses_the_gifts_after_the_first_ones(
    packages: Packages,
) -> None:
    set_clock(lambda: T0)
    buyer = await make_user()
    ana = await make_user("ana")
    live = await make_stream(ana)
    await buy(buyer.id, packages.web_big.id, "r-1")  # 750 coins for 7.49 USD
    first = await send(buyer, live, await make_gift(coins=300))
    second = await send(buyer, live, await make_gift(coins=300))

    # Cumulative figures: about 40% refunded, then about 80%.
    share = refunds.RefundShare
    await refunds.refund_purchase(Provider.SANDBOX, "r-1", reason="refund", share=share(300, 749))
    after_one = {row["gift_event_id"] for row in await GiftReversal.select()}
    await refunds.refund_purchase(Provider.SANDBOX, "r-1", reason="refund", share=share(600, 749))
    after_two = {row["gift_event_id"] for row in await GiftReversal.select()}

    assert after_one == {first.event.id}
    # The second refund's coins paid for the second gift, not the first again.
    assert after_two == {first.event.id, second.event.id}
    assert await diamonds_of(ana.id) == 0
    assert (await verify_all()).ok


# Disputes: traced when lost, not when opened; reinstated coins and reversed gifts -------


async def gifted(packages: Packages) -> tuple[int, int, int]:
    """A buyer of 750 coins who gave all of them in one gift to a creator, still maturing:
    (buyer, creator, purchase)."""
    set_clock(lambda: T0)
    buyer, creator = await make_user("buyer"), await make_user("creator")
    bought = await buy(buyer.id, packages.web_big.id, "r-1")
    await send(buyer, await make_stream(creator), await make_gift(coins=750))
    assert (await coins_of(buyer.id), await diamonds_of(creator.id)) == (0, 375)
    return buyer.id, creator.id, bought.id


async def test_an_open_dispute_reverses_nothing_and_a_won_one_leaves_the_gifts(
    packages: Packages,
) -> None:
    buyer, creator, _ = await gifted(packages)

    await refunds.open_dispute(Provider.SANDBOX, "r-1", "dp_1")
    while_open = (await coins_of(buyer), await diamonds_of(creator), await GiftReversal.count())
    await refunds.close_dispute(Provider.SANDBOX, "r-1", "dp_1", won=True)

    assert while_open == (-750, 375, 0)  # held, not lost: the gift stands
    assert (await coins_of(buyer), await diamonds_of(creator)) == (0, 375)
    assert await GiftReversal.count() == 0
    assert await creator_flags(creator) == []
    assert (await verify_all()).ok


async def test_a_lost_dispute_reverses_the_gifts_and_fraud_scan_traces_no_open_one(
    packages: Packages,
) -> None:
    from app.fraud import rules

    buyer, creator, _ = await gifted(packages)
    await refunds.open_dispute(Provider.SANDBOX, "r-1", "dp_1")
    await rules.scan(Settings(env="test").fraud, maturation_days=14)
    after_scan = (await diamonds_of(creator), await GiftReversal.count())

    await refunds.close_dispute(Provider.SANDBOX, "r-1", "dp_1", won=False)

    assert after_scan == (375, 0)
    assert (await coins_of(buyer), await diamonds_of(creator)) == (0, 0)
    assert await GiftReversal.count() == 1
    assert len(await creator_flags(creator)) == 1
    assert (await verify_all()).ok


async def test_auto_approval_waits_while_a_buyer_disputes_a_payment(packages: Packages) -> None:
    set_clock(lambda: T0 - timedelta(days=60))
    creator, clean = await make_user("creator"), await make_user("clean")
    set_clock(lambda: T0)
    buyer, fan = await make_user("buyer"), await make_user("fan")
    await buy(buyer.id, packages.web_big.id, "d-1")
    await buy(fan.id, packages.web_big.id, "f-1")
    gift = await make_gift(coins=700)
    await send(buyer, await make_stream(creator), gift)
    await send(fan, await make_stream(clean), gift)
    assert (await diamonds_of(creator.id), await diamonds_of(clean.id)) == (350, 350)
    app = Settings(
        env="test",
        economy=EconomySettings(minimum_payout_diamonds=100, earnings_maturation_days=0),
        payouts=PayoutSettings(auto_approve=True),
    )

    with subscribed(app):
        await refunds.open_dispute(Provider.SANDBOX, "d-1", "dp_1")
        assert await fraud.open_flags(creator.id) == []  # nothing lost yet: no flag
        waiting = await payouts.request_payout(creator.id, 350, "c", economy=app.economy)
        paid = await payouts.request_payout(clean.id, 350, "k", economy=app.economy)

    assert (await payouts.get_payout(waiting.id)).status is PayoutStatus.PENDING
    assert (await payouts.get_payout(paid.id)).status is PayoutStatus.PAID
    assert (await verify_all()).ok


async def test_a_reversed_refund_does_not_give_back_coins_a_gift_reversal_gave_already(
    packages: Packages,
) -> None:
    buyer, creator, bought = await gifted(packages)

    await refunds.refund_purchase(Provider.SANDBOX, "r-1", reason="refund")
    after_refund = (await coins_of(buyer), await diamonds_of(creator))
    given = await refunds.reverse_refund(Provider.SANDBOX, "r-1", reason="refund reversed")
    again = await refunds.reverse_refund(Provider.SANDBOX, "r-1", reason="refund reversed")

    # The gift was reversed: its 750 coins came back to the buyer against the refund's debt.
    assert after_refund == (0, 0)
    # Without the refund the buyer would have 0 coins: the reversal gives none on top.
    assert (given, again) == (0, 0)
    assert (await coins_of(buyer), await diamonds_of(creator)) == (0, 0)
    history = await refunds.clawback_history(bought)
    assert [(row["kind"], row["coins"]) for row in history] == [
        ("REFUND", 750),
        ("GIFTS_REVERSED", 750),
        ("REFUND_REVERSED", 750),
        ("REVERSALS_NETTED", 750),
    ]
    # Refunded again: the reversed gift covers the coins again, so the coins kept back
    # come back against the new clawback, and nothing is reversed twice.
    await refunds.refund_purchase(Provider.SANDBOX, "r-1", reason="refund")
    assert await coins_of(buyer) == 0
    assert await GiftReversal.count() == 1
    history = await refunds.clawback_history(bought)
    assert [(row["kind"], row["coins"]) for row in history][4:] == [
        ("REFUND", 750),
        ("REVERSALS_UNNETTED", 750),
    ]
    assert (await verify_all()).ok


async def test_a_dispute_won_after_it_was_lost_does_not_give_back_reversed_gifts_twice(
    packages: Packages,
) -> None:
    buyer, creator, _ = await gifted(packages)

    await refunds.open_dispute(Provider.SANDBOX, "r-1", "dp_1")
    await refunds.close_dispute(Provider.SANDBOX, "r-1", "dp_1", won=False)
    after_loss = (await coins_of(buyer), await diamonds_of(creator))
    await refunds.close_dispute(Provider.SANDBOX, "r-1", "dp_1", won=True)

    assert after_loss == (0, 0)  # the gift reversed when the coins were lost
    assert (await coins_of(buyer), await diamonds_of(creator)) == (0, 0)
    assert (await verify_all()).ok


async def test_a_trace_that_runs_after_the_coins_were_given_back_reverses_nothing(
    packages: Packages,
) -> None:
    buyer, creator, bought = await gifted(packages)
    # Wired without a window, the loss's own trace reverses nothing.
    with subscribed(Settings(env="test", economy=EconomySettings(earnings_maturation_days=0))):
        await refunds.refund_purchase(Provider.SANDBOX, "r-1", reason="refund")
        given = await refunds.reverse_refund(Provider.SANDBOX, "r-1", reason="reversed")

    late = await tracing.trace_refunded_coins(bought, maturation_days=14)  # fraud scan, late
    called: list[int] = []

    async def reverse() -> int:
        called.append(1)
        return 0

    with pytest.raises(DomainError) as refused:
        await refunds.reverse_traced_gift(bought, 750, reverse, reason="gift reversed")

    assert given == 750
    assert (late.gift_event_ids, late.reversed_event_ids) == ([], [])
    assert refused.value.code is ErrorCode.INVALID_INPUT
    assert called == []  # nothing lost: no reversal may be recorded against the purchase
    assert (await coins_of(buyer), await diamonds_of(creator)) == (0, 375)
    assert await GiftReversal.count() == 0
    assert (await verify_all()).ok

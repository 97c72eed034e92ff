"""Refunds after the coins were spent: negative balance, blocked spending, a fraud flag."""

from __future__ import annotations

import asyncio
import json

import pytest

from app import ledger
from app.core.errors import DomainError, ErrorCode
from app.fraud import service as fraud
from app.integrity import verify_all
from app.ledger.codes import AccountCode, Currency, TransferKind
from app.purchases import buying, refunds
from app.purchases.codes import Provider
from app.purchases.verifiers.sandbox import SandboxVerifier
from tests.factories import coins_of, make_user
from tests.purchases.conftest import Packages


async def _buy(user_id: int, package_id: int, receipt: str) -> buying.PurchaseRecord:
    return await buying.purchase_coins(
        user_id=user_id,
        package_id=package_id,
        provider=Provider.SANDBOX,
        receipt=receipt,
        idempotency_key=receipt,
        verifier=SandboxVerifier(enabled=True),
    )


async def _spend(user_id: int, coins: int) -> None:
    await ledger.transfer(
        TransferKind.GIFT_SENT,
        debit_account_id=await ledger.user_account_id(user_id, Currency.COIN),
        credit_account_id=await ledger.system_account_id(AccountCode.COIN_SINK),
        amount=coins,
        user_id=user_id,
    )


async def test_a_refund_after_spending_goes_negative_blocks_spending_and_flags(
    packages: Packages,
) -> None:
    alice = await make_user()
    bought = await _buy(alice.id, packages.web_big.id, "r-1")
    await _spend(alice.id, 700)

    clawback = await refunds.refund_purchase(Provider.SANDBOX, "r-1", reason="chargeback")

    assert clawback is not None
    assert (clawback.coins, clawback.balance_before, clawback.balance_after) == (750, 50, -700)
    assert await coins_of(alice.id) == -700
    assert (await buying.get_purchase(bought.id)).status.value == "REFUNDED"
    [flag] = await fraud.open_flags(alice.id)
    assert flag["rule"] == "REFUND_AFTER_SPEND"
    evidence = (
        flag["evidence"] if isinstance(flag["evidence"], dict) else json.loads(flag["evidence"])
    )
    assert evidence["purchase_id"] == bought.id
    assert (evidence["coins"], evidence["balance_before"]) == (750, 50)

    with pytest.raises(DomainError) as blocked:
        await _spend(alice.id, 1)
    assert blocked.value.code is ErrorCode.INSUFFICIENT_FUNDS
    assert await coins_of(alice.id) == -700

    await _buy(alice.id, packages.web_big.id, "r-2")
    assert await coins_of(alice.id) == 50
    await _spend(alice.id, 50)
    assert await coins_of(alice.id) == 0
    assert (await verify_all()).ok


async def test_a_second_refund_changes_nothing(packages: Packages) -> None:
    alice = await make_user()
    await _buy(alice.id, packages.web.id, "r-1")

    first = await refunds.refund_purchase(Provider.SANDBOX, "r-1", reason="refund")
    second = await refunds.refund_purchase(Provider.SANDBOX, "r-1", reason="refund")

    assert first is not None
    assert second is None
    assert await coins_of(alice.id) == 0
    assert not await fraud.has_open_flag(alice.id)


async def test_concurrent_refunds_claw_back_once(packages: Packages) -> None:
    alice = await make_user()
    await _buy(alice.id, packages.web.id, "r-1")

    results = await asyncio.gather(
        *(refunds.refund_purchase(Provider.SANDBOX, "r-1", reason="refund") for _ in range(4))
    )

    assert sum(result is not None for result in results) == 1
    assert await coins_of(alice.id) == 0


async def test_a_refund_of_an_unknown_purchase_is_not_found() -> None:
    with pytest.raises(DomainError) as missing:
        await refunds.refund_purchase(Provider.STRIPE, "pi_nothing", reason="refund")

    assert missing.value.code is ErrorCode.NOT_FOUND


# Partial refunds ----------------------------------------------------------------------


async def test_partial_refunds_claw_back_the_refunded_share_rounded_down_once_in_total(
    packages: Packages,
) -> None:
    alice = await make_user()
    bought = await _buy(alice.id, packages.web.id, "r-1")  # 70 coins for 0.74 USD

    def share(cents: int) -> refunds.RefundShare:
        return refunds.RefundShare(cents, 74)

    # Cumulative figures, as Stripe reports amount_refunded: 0.37, then 0.50, then all.
    first = await refunds.refund_purchase(Provider.SANDBOX, "r-1", reason="r", share=share(37))
    stale = await refunds.refund_purchase(Provider.SANDBOX, "r-1", reason="r", share=share(20))
    second = await refunds.refund_purchase(Provider.SANDBOX, "r-1", reason="r", share=share(50))
    assert (await buying.get_purchase(bought.id)).status.value == "COMPLETED"
    third = await refunds.refund_purchase(Provider.SANDBOX, "r-1", reason="r", share=share(74))
    again = await refunds.refund_purchase(Provider.SANDBOX, "r-1", reason="r", share=share(74))

    # floor(70 * 37 / 74) = 35; floor(70 * 50 / 74) = 47 (12 more); all 70 (23 more).
    assert [c.coins if c else None for c in (first, second, third)] == [35, 12, 23]
    assert (stale, again) == (None, None)
    assert await coins_of(alice.id) == 0
    purchase = await buying.get_purchase(bought.id)
    assert purchase.status.value == "REFUNDED"
    assert (purchase.refunded_minor, purchase.refunded_coins) == (74, 70)
    history = await refunds.clawback_history(bought.id)
    assert [(row["kind"], row["coins"]) for row in history] == [
        ("REFUND", 35),
        ("REFUND", 12),
        ("REFUND", 23),
    ]
    assert sum(c.coins for c in await refunds.recent_clawbacks(bought.created_at)) == 70
    assert (await verify_all()).ok


async def test_a_partial_refund_of_spent_coins_goes_negative_and_flags(packages: Packages) -> None:
    alice = await make_user()
    await _buy(alice.id, packages.web_big.id, "r-1")  # 750 coins for 7.49 USD
    await _spend(alice.id, 700)

    clawback = await refunds.refund_purchase(
        Provider.SANDBOX, "r-1", reason="refund", share=refunds.RefundShare(300, 749)
    )

    assert clawback is not None
    # floor(750 * 300 / 749) = 300
    assert (clawback.coins, clawback.balance_before, clawback.balance_after) == (300, 50, -250)
    assert [f["rule"] for f in await fraud.open_flags(alice.id)] == ["REFUND_AFTER_SPEND"]
    assert (await verify_all()).ok


def test_the_rounding_never_claws_more_than_the_purchase() -> None:
    for coins, price in ((70, 74), (750, 749), (17_500, 13_999), (1, 99)):
        clawed = 0
        for refunded in range(0, price + 1, max(1, price // 37)):
            target = refunds.proportional_coins(coins, refunded, price)
            assert clawed <= target <= coins
            clawed = target
        assert refunds.proportional_coins(coins, price, price) == coins


async def test_a_partial_refund_shows_on_the_purchase_and_gives_back_the_money_spent(
    packages: Packages,
) -> None:
    alice = await make_user()
    bought = await _buy(alice.id, packages.web.id, "r-1")  # 70 coins for 0.74 USD
    assert [
        (m.amount_minor, m.currency) for m in await buying.money_spent_this_month(alice.id)
    ] == [(74, "USD")]

    await refunds.refund_purchase(
        Provider.SANDBOX, "r-1", reason="refund", share=refunds.RefundShare(37, 74)
    )

    purchase = await buying.get_purchase(bought.id)
    assert (purchase.status.value, purchase.refunded_minor, purchase.refunded_coins) == (
        "COMPLETED",
        37,
        35,
    )
    # The refunded half no longer counts as money spent, nor as money the platform took.
    assert [
        (m.amount_minor, m.currency) for m in await buying.money_spent_this_month(alice.id)
    ] == [(37, "USD")]
    taken = await buying.money_taken_since(bought.created_at)
    assert [(m.amount_minor, m.currency) for m in taken] == [(37, "USD")]

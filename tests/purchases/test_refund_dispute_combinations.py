"""Refunds and disputes of one purchase in every order: its coins are taken back once.

A purchase's coins are taken back at most once in total, whichever claims the provider
makes on them and in whatever order its events arrive. The combinations (70 coins for
0.74; "half" is 0.37 of it, 35 coins; "hold" means DISPUTE_HOLD):

====================================  ===================================  ==================
Events, in order                      Coins taken in the end               Tested in
====================================  ===================================  ==================
open(all), refund(all), won           70: the refund takes the hold        here (the hole)
open(all), refund(all), lost          70: the loss finds nothing held      here
open(all), refund(half), won          35: the win releases the other 35    here
open(all), refund(half), lost         70                                   here
open(half), refund(all), won / lost   70: 35 outside the hold, 35 in it    here
refund(half), open(all), won / lost   35 / 70: the dispute holds 35        here
refund(all), open(all), lost          70: the dispute holds nothing        here
open(half), lost, refund(all)         70: the refund takes the other 35    here
  ..., then won after lost            70: the refund keeps them            here (the hole)
open(all), lost, won after lost       0: the coins come back               test_disputes
won or lost before open, then open    as the closing alone                 test_disputes
open and refund at once               70, by whichever came first          test_disputes
refund(x), REFUND_REVERSED, refund    0, then all again                    test_apple_refunds
loss traced, then given back          less the reversed gifts' coins       test_refund_tracing
====================================  ===================================  ==================

Every event may come again: a replay moves nothing. Stripe has no reversed refunds and
Apple no disputes, so a reversed refund meeting a dispute cannot happen.
"""

from __future__ import annotations

from app import ledger
from app.integrity import verify_all
from app.ledger import AccountCode
from app.purchases import buying, refunds
from app.purchases.codes import Provider
from app.purchases.tables import Dispute
from app.purchases.verifiers.sandbox import SandboxVerifier
from tests.factories import coins_of, make_user
from tests.purchases.conftest import Packages

HALF = refunds.RefundShare(37, 74)


async def bought(packages: Packages) -> int:
    """A buyer of 70 coins for 0.74 USD (receipt "p-1")."""
    buyer = await make_user()
    await buying.purchase_coins(
        user_id=buyer.id,
        package_id=packages.web.id,
        provider=Provider.SANDBOX,
        receipt="p-1",
        idempotency_key="p-1",
        verifier=SandboxVerifier(enabled=True),
    )
    return buyer.id


async def held() -> int:
    return await ledger.system_balance(AccountCode.DISPUTE_HOLD)


async def refund(share: refunds.RefundShare | None = None) -> None:
    await refunds.refund_purchase(Provider.SANDBOX, "p-1", reason="refund", share=share)


async def open_(amount: int | None = None, dispute_id: str = "dp_1") -> None:
    await refunds.open_dispute(Provider.SANDBOX, "p-1", dispute_id, amount_minor=amount)


async def close(*, won: bool, dispute_id: str = "dp_1") -> None:
    await refunds.close_dispute(Provider.SANDBOX, "p-1", dispute_id, won=won)


async def test_a_refund_during_an_open_dispute_takes_the_held_coins_so_a_win_gives_none(
    packages: Packages,
) -> None:
    buyer = await bought(packages)
    await open_()
    await refund()
    after_refund = (await coins_of(buyer), await held())
    await close(won=True)
    await close(won=True)  # a replay

    assert after_refund == (0, 0)
    # Money back and no coins: the win releases only what was still held, nothing.
    assert (await coins_of(buyer), await held()) == (0, 0)
    assert await Dispute.select(Dispute.status, Dispute.coins).first() == {
        "status": "WON",
        "coins": 0,
    }
    assert (await verify_all()).ok


async def test_a_refund_during_an_open_dispute_then_a_loss_takes_nothing_more(
    packages: Packages,
) -> None:
    buyer = await bought(packages)
    await open_()
    await refund()
    await close(won=False)
    await refund()  # a replay

    assert (await coins_of(buyer), await held()) == (0, 0)
    history = await refunds.clawback_history(await purchase_id())
    assert sum(row["coins"] for row in history if row["kind"] == "REFUND") == 70
    assert sum(row["coins"] for row in history if row["kind"] == "DISPUTE_LOST") == 0
    assert (await verify_all()).ok


async def test_a_partial_refund_during_an_open_dispute_leaves_the_rest_held(
    packages: Packages,
) -> None:
    winner = await bought(packages)
    await open_()
    await refund(HALF)
    while_open = (await coins_of(winner), await held())
    await close(won=True)

    assert while_open == (0, 35)  # 35 refunded out of the hold, 35 still held
    assert (await coins_of(winner), await held()) == (35, 0)
    assert (await verify_all()).ok


async def test_a_partial_refund_during_an_open_dispute_then_a_loss_takes_the_rest(
    packages: Packages,
) -> None:
    buyer = await bought(packages)
    await open_()
    await refund(HALF)
    await close(won=False)

    assert (await coins_of(buyer), await held()) == (0, 0)
    assert (await verify_all()).ok


async def test_a_full_refund_during_a_partial_dispute_takes_free_coins_then_held_ones(
    packages: Packages,
) -> None:
    buyer = await bought(packages)
    await open_(37)  # holds 35
    await refund()
    after_refund = (await coins_of(buyer), await held())
    await close(won=True)

    assert after_refund == (0, 0)
    assert (await coins_of(buyer), await held()) == (0, 0)
    assert (await verify_all()).ok


async def test_a_full_refund_during_a_partial_dispute_then_a_loss_takes_nothing_more(
    packages: Packages,
) -> None:
    buyer = await bought(packages)
    await open_(37)
    await refund()
    await close(won=False)

    assert (await coins_of(buyer), await held()) == (0, 0)
    assert (await verify_all()).ok


async def test_a_dispute_after_a_partial_refund_holds_only_what_is_left(
    packages: Packages,
) -> None:
    buyer = await bought(packages)
    await refund(HALF)
    await open_()
    while_open = (await coins_of(buyer), await held())
    await open_()  # a replay
    await close(won=True)
    after_win = await coins_of(buyer)
    await open_(dispute_id="dp_2")
    await close(won=False, dispute_id="dp_2")

    assert while_open == (0, 35)
    assert after_win == 35
    assert (await coins_of(buyer), await held()) == (0, 0)
    assert (await verify_all()).ok


async def test_a_dispute_after_a_full_refund_holds_and_takes_nothing(
    packages: Packages,
) -> None:
    buyer = await bought(packages)
    await refund()
    await open_()
    await close(won=False)

    assert (await coins_of(buyer), await held()) == (0, 0)
    assert (await verify_all()).ok


async def test_a_dispute_won_after_it_was_lost_gives_back_nothing_a_refund_still_claims(
    packages: Packages,
) -> None:
    buyer = await bought(packages)
    await open_(37)
    await close(won=False)  # 35 taken for good
    await refund()  # the other 35
    in_full = await coins_of(buyer)
    await close(won=True)  # the bank reversed its decision; the refund stands
    await close(won=True)  # a replay

    assert in_full == 0
    # The whole price was refunded: none of the coins come back.
    assert (await coins_of(buyer), await held()) == (0, 0)
    assert (await verify_all()).ok


async def purchase_id() -> int:
    from app.purchases.tables import Purchase

    row = await Purchase.select(Purchase.id).first()
    assert row is not None
    return int(row["id"])


async def test_a_refund_racing_a_dispute_closing_takes_the_coins_once(
    packages: Packages,
) -> None:
    import asyncio

    buyer = await bought(packages)
    await open_()

    await asyncio.gather(refund(), close(won=True), refund(), close(won=True))

    # Whichever came first, the buyer has the money back and no coins.
    assert (await coins_of(buyer), await held()) == (0, 0)
    assert (await verify_all()).ok


async def test_a_refund_racing_a_lost_dispute_takes_the_coins_once(packages: Packages) -> None:
    import asyncio

    buyer = await bought(packages)
    await open_()

    await asyncio.gather(refund(), close(won=False), refund(), close(won=False))

    assert (await coins_of(buyer), await held()) == (0, 0)
    assert await refunds.lost_coins(await purchase_id()) == 70
    assert (await verify_all()).ok

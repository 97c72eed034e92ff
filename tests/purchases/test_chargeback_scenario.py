"""Issue 14's chargeback scenario: three new card buyers gift a creator, the creator asks
for a payout with auto-approval on, then the disputes arrive and are lost. No money leaves,
the gifts are reversed once the disputes are lost (not when they open: a won dispute leaves
them), and the creator waits in the fraud queue."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from litestar.testing import AsyncTestClient

from app import ledger
from app.core.clock import set_clock
from app.fraud import service as fraud
from app.fraud.codes import FraudRule
from app.fraud.tables import GiftReversal
from app.fraud.tracing import creator_cleared
from app.integrity import verify_all
from app.ledger.codes import AccountCode
from app.payouts.tables import Payout, SandboxPayoutTransfer
from app.settings import EconomySettings, PaymentSettings, PayoutSettings, Settings
from app.users.tokens import issue_token
from tests.conftest import Database
from tests.factories import coins_of, diamonds_of, make_gift, make_stream, make_user, send
from tests.graphql.helpers import gql
from tests.purchases.conftest import Packages
from tests.purchases.signing import BUNDLE_ID, STRIPE_SECRET, AppleSigner, stripe_event
from tests.purchases.test_stripe import deliver, succeeded

REQUEST = """
mutation { requestPayout(input: {diamonds: 1050, idempotencyKey: "cash-out"}) {
  payout { id status } errors { code } } }
"""
EARNINGS = "{ me { earnings { availableDiamonds maturingDiamonds } } }"


@pytest.fixture
def settings(db: Database, apple: AppleSigner) -> Settings:
    """Card payments, auto-approval on, a minimum three gifts reach; maturation by default."""
    return db.settings(
        payments=PaymentSettings(
            apple_bundle_id=BUNDLE_ID,
            apple_root_certificates=(apple.root_der,),
            stripe_webhook_secret=STRIPE_SECRET,
        ),
        payouts=PayoutSettings(auto_approve=True),
        economy=EconomySettings(minimum_payout_diamonds=1_000),
    )


async def request_payout(client: AsyncTestClient, token: str) -> dict:
    return (await gql(client, REQUEST, token=token))["requestPayout"]


async def test_three_disputed_card_buyers_pay_nothing_out_and_queue_the_creator(
    client: AsyncTestClient, settings: Settings, packages: Packages
) -> None:
    # Now, frozen: the API checks its tokens' expiry against the real time.
    now = datetime.now(UTC).replace(microsecond=0)
    set_clock(lambda: now - timedelta(days=60))
    creator = await make_user("star")  # old enough for auto-approval
    set_clock(lambda: now)
    token = issue_token(creator.id, settings.auth)
    live, gift = await make_stream(creator), await make_gift(coins=700)
    buyers = [await make_user(f"card{n}") for n in range(3)]
    for n, buyer in enumerate(buyers):
        paid = succeeded(f"pi_{n}", buyer, packages.web_big.id, key=f"k-{n}", amount=749)
        assert (await deliver(client, stripe_event("payment_intent.succeeded", paid))).json() == {
            "status": "processed"
        }
        await send(buyer, live, gift)
    assert await diamonds_of(creator.id) == 3 * 350

    asked = await request_payout(client, token)
    shown = (await gql(client, EARNINGS, token=token))["me"]["earnings"]

    assert asked == {"payout": None, "errors": [{"code": "EARNINGS_NOT_MATURED"}]}
    assert shown == {"availableDiamonds": 0, "maturingDiamonds": 1_050}

    for n in range(3):
        dispute = {"id": f"dp_{n}", "object": "dispute", "payment_intent": f"pi_{n}"}
        reply = await deliver(client, stripe_event("charge.dispute.created", dispute))
        assert reply.json() == {"status": "processed"}

    # Open disputes only hold the coins: they may be won, and the gifts then stand. The
    # creator is not cleared for auto-approval meanwhile (the buyers are contested).
    assert [await coins_of(buyer.id) for buyer in buyers] == [-700, -700, -700]
    assert await diamonds_of(creator.id) == 3 * 350
    assert await fraud.list_flags(rule=FraudRule.REFUNDED_COINS_GIFTED) == []
    assert not await creator_cleared(creator.id, settings.fraud)

    for n in range(3):
        dispute = {"id": f"dp_{n}", "object": "dispute", "payment_intent": f"pi_{n}"}
        lost = dispute | {"status": "lost"}
        reply = await deliver(client, stripe_event("charge.dispute.closed", lost))
        assert reply.json() == {"status": "processed"}

    # Lost: each buyer's clawback (-700) is paid back by the reversal of their gift (+700).
    assert [await coins_of(buyer.id) for buyer in buyers] == [0, 0, 0]
    assert await diamonds_of(creator.id) == 0
    queue = await fraud.list_flags(rule=FraudRule.REFUNDED_COINS_GIFTED)
    assert sorted(flag.subject_user_id for flag in queue) == [creator.id] * 3
    assert {flag.evidence["buyer_id"] for flag in queue} == {buyer.id for buyer in buyers}

    # Once the window has passed there is nothing left to ask for, and nothing was paid.
    set_clock(lambda: now + timedelta(days=15))
    later = await request_payout(client, issue_token(creator.id, settings.auth))

    assert later == {"payout": None, "errors": [{"code": "INSUFFICIENT_FUNDS"}]}
    assert await Payout.count() == 0
    assert await SandboxPayoutTransfer.count() == 0
    assert await ledger.system_balance(AccountCode.PAYOUTS_PAID) == 0
    assert await fraud.has_open_flag(creator.id)
    assert (await verify_all()).ok


async def test_a_dispute_won_leaves_the_gifts_and_the_creators_diamonds(
    client: AsyncTestClient, settings: Settings, packages: Packages
) -> None:
    creator, buyer = await make_user("star"), await make_user("card")
    live, gift = await make_stream(creator), await make_gift(coins=700)
    paid = succeeded("pi_0", buyer, packages.web_big.id, key="k-0", amount=749)
    await deliver(client, stripe_event("payment_intent.succeeded", paid))
    await send(buyer, live, gift)
    dispute = {"id": "dp_0", "object": "dispute", "payment_intent": "pi_0"}

    await deliver(client, stripe_event("charge.dispute.created", dispute))
    while_open = (await coins_of(buyer.id), await diamonds_of(creator.id))
    cleared_while_open = await creator_cleared(creator.id, settings.fraud)
    won = dispute | {"status": "won"}
    await deliver(client, stripe_event("charge.dispute.closed", won))

    assert while_open == (50 - 750, 350)
    assert not cleared_while_open
    # Won: the coins come back and the gift stands; the creator keeps its diamonds.
    assert (await coins_of(buyer.id), await diamonds_of(creator.id)) == (50, 350)
    assert await GiftReversal.count() == 0
    assert await fraud.list_flags(rule=FraudRule.REFUNDED_COINS_GIFTED) == []
    assert await creator_cleared(creator.id, settings.fraud)
    assert (await verify_all()).ok

"""Moderator actions: reverse a gift, hold payouts, close flags; creators' reportGift."""

from __future__ import annotations

import asyncio

import pytest
from litestar.testing import AsyncTestClient

from app.audit.tables import AuditEntry
from app.core.errors import DomainError, ErrorCode
from app.core.ids import encode_id
from app.core.money import Money
from app.fraud import review
from app.fraud import service as fraud
from app.fraud.codes import FlagStatus, FraudRule, Severity
from app.fraud.tables import FraudFlag, GiftReversal
from app.integrity import verify_all
from app.ledger.tables import Operation, Transfer
from app.offers import catalog as offers
from app.payouts import holds
from app.payouts import queries as payout_queries
from app.payouts import service as payouts
from app.payouts.codes import PayoutStatus
from app.payouts.provider import SandboxPayoutProvider
from app.purchases import packages
from app.purchases.codes import Platform
from app.settings import EconomySettings, Settings
from app.streams.tables import LiveStream, StreamGifter
from app.users.tables import User
from app.users.tokens import issue_token
from tests.factories import (
    coins_of,
    diamonds_of,
    give_diamonds,
    make_gift,
    make_stream,
    make_user,
    send,
    settled,
    staff,
)
from tests.graphql.helpers import gql

MOD = staff("mod", "MODERATOR")
# Diamonds payable at once: these tests are about the rules, not about maturing earnings.
ECONOMY = EconomySettings(minimum_payout_diamonds=100, earnings_maturation_days=0)


async def gifted(coins: int = 100, quantity: int = 2):
    viewer = await make_user(coins=1_000)
    host = await make_user()
    stream = await make_stream(host)
    event = (await send(viewer, stream, await make_gift(coins=coins), quantity)).event
    return viewer, host, stream, event


# Reversing a gift -----------------------------------------------------------------------


async def test_reversing_a_gift_restores_both_balances_once_and_closes_the_flag(db) -> None:
    viewer, host, stream, event = await gifted()
    assert (await coins_of(viewer.id), await diamonds_of(host.id)) == (800, 100)
    await fraud.raise_flag(viewer.id, FraudRule.CREATOR_REPORT, Severity.MEDIUM, {})
    [flag] = await fraud.list_flags()

    reversal = await review.reverse_gift(event.id, actor=MOD, reason="stolen card", flag_id=flag.id)

    assert (await coins_of(viewer.id), await diamonds_of(host.id)) == (1_000, 0)
    assert (await verify_all()).ok
    legs = await Transfer.select().where(Transfer.operation_id == reversal.operation_id)
    assert sorted((leg["kind"], leg["amount"]) for leg in legs) == [
        ("ADJUSTMENT", 100),
        ("ADJUSTMENT", 200),
    ]
    live = await LiveStream.select().where(LiveStream.id == stream.id).first()
    assert (live["coins_received"], live["gift_count"]) == (0, 0)
    gifter = await StreamGifter.select().where(StreamGifter.stream_id == stream.id).first()
    assert gifter["coins"] == 0
    closed = await fraud.get_flag(flag.id)
    assert (closed.status, closed.reviewer, closed.note) == (
        FlagStatus.ACTIONED,
        "mod",
        "stolen card",
    )
    actions = [row["action"] for row in await AuditEntry.select().order_by(AuditEntry.id)]
    assert actions == ["gift.reverse", "fraud_flag.action"]

    transfers = await Transfer.count()
    with pytest.raises(DomainError) as again:
        await review.reverse_gift(event.id, actor=MOD, reason="twice")
    assert again.value.code is ErrorCode.INVALID_INPUT
    assert await Transfer.count() == transfers
    assert (await coins_of(viewer.id), await diamonds_of(host.id)) == (1_000, 0)


async def test_a_reversal_takes_diamonds_already_paid_out_into_the_negative(db) -> None:
    viewer, host, _, event = await gifted(coins=200, quantity=1)
    await settled()
    payout = await payouts.request_payout(host.id, 100, "cash-out", economy=ECONOMY)
    await payouts.approve_payout(payout.id, MOD, provider=SandboxPayoutProvider())

    await review.reverse_gift(event.id, actor=MOD, reason="laundering")

    assert await diamonds_of(host.id) == -100
    assert await coins_of(viewer.id) == 1_000
    assert (await verify_all()).ok


async def test_two_moderators_reversing_one_gift_at_once_reverse_it_once(db) -> None:
    viewer, host, _, event = await gifted()

    results = await asyncio.gather(
        review.reverse_gift(event.id, actor=MOD, reason="one"),
        review.reverse_gift(event.id, actor=staff("other", "MODERATOR"), reason="two"),
        return_exceptions=True,
    )

    assert sum(isinstance(r, review.Reversal) for r in results) == 1, results
    assert [r.code for r in results if isinstance(r, DomainError)] == [ErrorCode.INVALID_INPUT], (
        results
    )
    assert await GiftReversal.count() == 1
    assert (await coins_of(viewer.id), await diamonds_of(host.id)) == (1_000, 0)


async def test_an_unknown_gift_or_a_blank_reason_reverses_nothing(db) -> None:
    _, _, _, event = await gifted()
    transfers = await Transfer.count()

    with pytest.raises(DomainError) as unknown:
        await review.reverse_gift(event.id + 99, actor=MOD, reason="x")
    with pytest.raises(DomainError) as blank:
        await review.reverse_gift(event.id, actor=MOD, reason="  ")

    assert unknown.value.code is ErrorCode.NOT_FOUND
    assert (blank.value.code, blank.value.field) == (ErrorCode.INVALID_INPUT, "reason")
    assert await Transfer.count() == transfers
    assert await AuditEntry.count() == 0


# Holding payouts and closing flags ------------------------------------------------------


async def test_held_payouts_cannot_be_approved_until_released(db) -> None:
    creator = await make_user()
    await give_diamonds(creator.id, 500)
    payout = await payouts.request_payout(creator.id, 200, "p", economy=ECONOMY)
    await fraud.raise_flag(creator.id, FraudRule.NEW_ACCOUNT_SWARM, Severity.HIGH, {})
    [flag] = await fraud.list_flags()

    await review.hold_from_flag(flag.id, held=True, actor=MOD, reason="swarm of new fans")

    assert await holds.payouts_held(creator.id)
    with pytest.raises(DomainError) as refused:
        await payouts.approve_payout(payout.id, staff("fin"), provider=SandboxPayoutProvider())
    assert refused.value.code is ErrorCode.FORBIDDEN
    assert (await payout_queries.get_payout(payout.id)).status is PayoutStatus.PENDING
    assert (await fraud.get_flag(flag.id)).status is FlagStatus.ACTIONED

    await review.hold_from_flag(flag.id, held=False, actor=MOD, reason="fans are real")
    paid = await payouts.approve_payout(payout.id, staff("fin"), provider=SandboxPayoutProvider())
    assert paid.status is PayoutStatus.PAID
    actions = [row["action"] for row in await AuditEntry.select().order_by(AuditEntry.id)]
    assert actions == ["payouts.hold", "fraud_flag.action", "payouts.release", "payout.approve"]


async def test_dismissing_a_flag_records_who_and_why_once(db) -> None:
    user = await make_user()
    await fraud.raise_flag(user.id, FraudRule.CREATOR_REPORT, Severity.LOW, {})
    [flag] = await fraud.list_flags()

    dismissed = await fraud.dismiss_flag(flag.id, actor=MOD, note="a misunderstanding")

    assert (dismissed.status, dismissed.reviewer, dismissed.note) == (
        FlagStatus.DISMISSED,
        "mod",
        "a misunderstanding",
    )
    assert dismissed.reviewed_at is not None
    with pytest.raises(DomainError):
        await fraud.dismiss_flag(flag.id, actor=MOD, note="again")
    [entry] = await AuditEntry.select()
    assert (entry["action"], entry["reason"]) == ("fraud_flag.dismiss", "a misunderstanding")
    assert not await fraud.has_open_flag(user.id)


async def test_the_queue_lists_the_most_severe_then_the_oldest_first(db) -> None:
    a, b, c = await make_user(), await make_user(), await make_user()
    await fraud.raise_flag(a.id, FraudRule.CREATOR_REPORT, Severity.LOW, {})
    await fraud.raise_flag(b.id, FraudRule.CIRCULAR_GIFTING, Severity.HIGH, {})
    await fraud.raise_flag(c.id, FraudRule.YOUNG_ACCOUNT_SPENDING, Severity.MEDIUM, {})
    await fraud.raise_flag(a.id, FraudRule.NEW_ACCOUNT_SWARM, Severity.HIGH, {})

    queue = await fraud.list_flags()
    high = await fraud.list_flags(rule=FraudRule.NEW_ACCOUNT_SWARM)
    second_page = await fraud.list_flags(limit=2, after=queue[1].id)

    assert [(f.subject_user_id, f.severity.value) for f in queue] == [
        (b.id, "HIGH"),
        (a.id, "HIGH"),
        (c.id, "MEDIUM"),
        (a.id, "LOW"),
    ]
    assert [f.subject_user_id for f in high] == [a.id]
    assert [f.subject_user_id for f in second_page] == [c.id, a.id]


# reportGift -----------------------------------------------------------------------------

REPORT = """
mutation Report($id: ID!, $reason: String!) {
  reportGift(input: {giftEventId: $id, reason: $reason}) { reported errors { code field } }
}
"""


async def test_only_the_host_can_report_a_gift_and_it_flags_the_sender(
    client: AsyncTestClient, settings: Settings
) -> None:
    viewer, host, _, event = await gifted()
    event_id = encode_id("GiftEvent", event.id)

    stranger = await make_user()
    by_stranger = await gql(
        client,
        REPORT,
        {"id": event_id, "reason": "spam"},
        token=issue_token(stranger.id, settings.auth),
    )
    unknown = await gql(
        client,
        REPORT,
        {"id": encode_id("GiftEvent", event.id + 50), "reason": "spam"},
        token=issue_token(host.id, settings.auth),
    )
    assert by_stranger["reportGift"] == {
        "reported": False,
        "errors": [{"code": "FORBIDDEN", "field": "giftEventId"}],
    }
    assert unknown["reportGift"]["errors"] == [{"code": "NOT_FOUND", "field": "giftEventId"}]
    assert await FraudFlag.count() == 0

    by_host = await gql(
        client,
        REPORT,
        {"id": event_id, "reason": "abusive messages with gifts"},
        token=issue_token(host.id, settings.auth),
    )

    assert by_host["reportGift"] == {"reported": True, "errors": []}
    [flag] = await fraud.open_flags(viewer.id)
    record = await fraud.get_flag(flag["id"])
    assert record.rule is FraudRule.CREATOR_REPORT
    assert record.evidence["gift_event_id"] == event.id
    assert record.evidence["reason"] == "abusive messages with gifts"


# A frozen account over the API ----------------------------------------------------------


async def test_a_frozen_account_can_neither_buy_send_redeem_nor_cash_out(
    client: AsyncTestClient, settings: Settings
) -> None:
    user = await make_user(coins=500)
    await give_diamonds(user.id, 5_000)
    package = await packages.create_package(platform=Platform.WEB, coins=70, price=Money(74, "USD"))
    offer_id = await offers.create_offer(brand="Bean", title="Coffee", coin_cost=100, active=True)
    await offers.add_codes(offer_id, ["BEAN-1"])
    stream = await make_stream()
    gift = await make_gift(coins=10)
    await User.update({User.frozen: True}).where(User.id == user.id)
    token = issue_token(user.id, settings.auth)
    operations, transfers = await Operation.count(), await Transfer.count()

    calls = {
        "purchaseCoins": (
            "mutation($p: ID!) { purchaseCoins(input: {packageId: $p, provider: SANDBOX, "
            'receipt: "r-1", idempotencyKey: "k1"}) { errors { code } } }',
            {"p": encode_id("CoinPackage", package.id)},
        ),
        "sendGift": (
            "mutation($s: ID!, $g: ID!) { sendGift(input: {streamId: $s, giftId: $g, "
            'quantity: 1, idempotencyKey: "k2"}) { errors { code } } }',
            {"s": encode_id("LiveStream", stream.id), "g": encode_id("Gift", gift.id)},
        ),
        "redeemOffer": (
            'mutation($o: ID!) { redeemOffer(input: {offerId: $o, idempotencyKey: "k3"}) '
            "{ errors { code } } }",
            {"o": encode_id("PartnerOffer", offer_id)},
        ),
        "requestPayout": (
            'mutation { requestPayout(input: {diamonds: 2000, idempotencyKey: "k4"}) '
            "{ errors { code } } }",
            {},
        ),
    }
    for name, (query, variables) in calls.items():
        data = await gql(client, query, variables, token=token)
        assert data[name]["errors"] == [{"code": "ACCOUNT_FROZEN"}], name

    assert (await coins_of(user.id), await diamonds_of(user.id)) == (500, 5_000)
    assert (await Operation.count(), await Transfer.count()) == (operations, transfers)


async def test_a_flag_reverses_only_a_gift_from_its_subjects_history(db) -> None:
    sender, stranger = await make_user(coins=100), await make_user(coins=100)
    stream = await make_stream(await make_user())
    gift = await make_gift(coins=10)
    own = (await send(sender, stream, gift)).event
    unrelated = (await send(stranger, stream, gift)).event
    await fraud.raise_flag(sender.id, FraudRule.CREATOR_REPORT, Severity.LOW, {})
    [flag] = await fraud.list_flags()
    moderator = staff("mod", "MODERATOR")

    with pytest.raises(DomainError) as refused:
        await review.reverse_flagged_gift(flag.id, unrelated.id, actor=moderator, reason="x")

    assert (refused.value.code, refused.value.field) == (ErrorCode.INVALID_INPUT, "giftEventId")
    assert await review.reversals_of([unrelated.id]) == {}
    done = await review.reverse_flagged_gift(flag.id, own.id, actor=moderator, reason="card")
    assert done.gift_event_id == own.id
    assert (await fraud.get_flag(flag.id)).status is FlagStatus.ACTIONED

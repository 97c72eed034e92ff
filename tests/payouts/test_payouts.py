"""Payouts end to end through the service: hold, then paid or released, exactly once."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta

import pytest

from app import ledger
from app.core.clock import set_clock
from app.core.errors import DomainError, ErrorCode
from app.core.money import Money, Rate
from app.fraud import service as fraud
from app.fraud.codes import FraudRule, Severity
from app.integrity import verify_all
from app.ledger.codes import AccountCode, TransferKind
from app.ledger.tables import Operation, Transfer
from app.payouts import daily_cap
from app.payouts import queries as payout_queries
from app.payouts import records as payout_records
from app.payouts import service as payouts
from app.payouts.codes import PayoutStatus
from app.payouts.provider import PayoutProviderError, SandboxPayoutProvider
from app.payouts.records import PayoutAlreadyDecided, cash_amount
from app.payouts.tables import Payout, PayoutDailyTotal, SandboxPayoutTransfer
from app.settings import EconomySettings, PayoutSettings, Settings
from app.users.tables import User
from tests.factories import diamonds_of, give_diamonds, make_user, staff, subscribed

pytestmark = pytest.mark.usefixtures("db")

ECONOMY = EconomySettings()  # 0.5 cent a diamond, minimum 2,000, at most 200,000 a day
SANDBOX = SandboxPayoutProvider()
_keys = itertools.count(1)


async def creator(diamonds: int = 50_000, **kwargs: object):
    user = await make_user(**kwargs)  # type: ignore[arg-type]
    if diamonds:
        await give_diamonds(user.id, diamonds)
    return user


async def request(
    user_id: int, diamonds: int, key: str | None = None, *, policy: PayoutSettings | None = None
) -> payout_records.PayoutRecord:
    """A request as the API makes it; with ``policy``, heard by auto-approval as the app
    wires it (the sandbox provider pays)."""
    with subscribed(Settings(env="test", payouts=policy or PayoutSettings())):
        return await payouts.request_payout(
            user_id, diamonds, key or f"payout-{next(_keys)}", economy=ECONOMY
        )


async def account(code: AccountCode) -> int:
    return await ledger.system_balance(code)


async def assert_hold_matches_payouts() -> None:
    """The hold account carries exactly the diamonds of PENDING and APPROVED payouts."""
    creators = [row["creator_id"] for row in await Payout.select(Payout.creator_id).distinct()]
    held = sum((await payout_queries.held_diamonds(creators)).values())
    assert await account(AccountCode.PAYOUT_HOLD) == held


async def writes() -> tuple[int, int, int]:
    return await Transfer.count(), await Operation.count(), await Payout.count()


async def kinds() -> list[str]:
    return [row["kind"] for row in await Transfer.select(Transfer.kind).order_by(Transfer.id)]


# Rounding -----------------------------------------------------------------------------


def test_cash_is_rounded_down_to_whole_cents_by_less_than_one() -> None:
    half_cent = Rate(1, 2, "USD")
    assert cash_amount(2_000, half_cent) == Money(1_000, "USD")
    assert cash_amount(2_001, half_cent) == Money(1_000, "USD")  # 1,000.5 cents
    assert cash_amount(2_003, half_cent) == Money(1_001, "USD")  # 1,001.5 cents
    third_cent = Rate(1, 3, "EUR")
    assert cash_amount(2_002, third_cent) == Money(667, "EUR")  # 667.33 cents
    assert cash_amount(2_000, third_cent) == Money(666, "EUR")  # 666.67 cents, not 667
    for diamonds in range(2_000, 2_050):
        paid = cash_amount(diamonds, third_cent).amount_minor
        assert 0 <= diamonds / 3 - paid < 1


async def test_an_odd_request_pays_the_floor_of_its_value() -> None:
    alice = await creator()

    payout = await request(alice.id, 2_001)

    assert payout.amount == Money(1_000, "USD")
    assert payout.diamonds == 2_001


# Request -> approve -> paid -----------------------------------------------------------


async def test_request_holds_then_approval_pays_with_a_reference() -> None:
    alice = await creator(10_000)

    pending = await request(alice.id, 4_000, key="k1")

    assert pending.status is PayoutStatus.PENDING
    assert await diamonds_of(alice.id) == 6_000
    assert await account(AccountCode.PAYOUT_HOLD) == 4_000
    assert await payout_queries.held_diamonds([alice.id]) == {alice.id: 4_000}

    paid = await payouts.approve_payout(pending.id, staff("fiona"), provider=SANDBOX)

    assert paid.status is PayoutStatus.PAID
    assert paid.decided_by == "fiona"
    assert paid.decided_at is not None
    assert paid.paid_at is not None
    assert (paid.payment_reference or "").startswith("sandbox_")
    [sent] = await SandboxPayoutTransfer.select()
    assert (sent["payout_id"], sent["amount_minor"], sent["currency"]) == (paid.id, 2_000, "USD")
    assert sent["reference"] == paid.payment_reference
    assert await diamonds_of(alice.id) == 6_000
    assert await account(AccountCode.PAYOUT_HOLD) == 0
    assert await account(AccountCode.PAYOUTS_PAID) == 4_000
    assert await payout_queries.held_diamonds([alice.id]) == {alice.id: 0}
    assert (await kinds())[-2:] == ["PAYOUT_HOLD", "PAYOUT_PAID"]
    assert (await verify_all()).ok


async def test_a_replayed_request_returns_the_first_payout_and_holds_once() -> None:
    alice = await creator(10_000)
    first = await request(alice.id, 3_000, key="same")
    before = await writes()

    again = await request(alice.id, 3_000, key="same")

    assert again == first
    assert await writes() == before
    assert await diamonds_of(alice.id) == 7_000
    with pytest.raises(DomainError) as reused:
        await request(alice.id, 3_001, key="same")
    assert reused.value.code is ErrorCode.IDEMPOTENCY_KEY_REUSED


async def test_a_failed_provider_leaves_the_payout_approved_and_held_until_retried() -> None:
    alice = await creator(10_000)
    pending = await request(alice.id, 2_000)

    class Down:
        async def send(self, payout: payout_records.PayoutRecord) -> str:
            raise ConnectionError("bank unreachable")

    with pytest.raises(PayoutProviderError):
        await payouts.approve_payout(pending.id, staff("fiona"), provider=Down())

    stuck = await payout_queries.get_payout(pending.id)
    assert stuck.status is PayoutStatus.APPROVED
    assert await account(AccountCode.PAYOUT_HOLD) == 2_000
    with pytest.raises(DomainError) as cancel:
        await payouts.cancel_payout(alice.id, pending.id)
    assert cancel.value.code is ErrorCode.PAYOUT_NOT_CANCELLABLE

    paid = await payouts.pay_payout(pending.id, provider=SANDBOX)
    again = await payouts.pay_payout(pending.id, provider=SANDBOX)

    assert paid.status is PayoutStatus.PAID
    assert again == paid
    assert await account(AccountCode.PAYOUTS_PAID) == 2_000
    assert await SandboxPayoutTransfer.count() == 1


# Reject and cancel --------------------------------------------------------------------


async def test_rejection_releases_the_hold_and_keeps_the_reason() -> None:
    alice = await creator(10_000)
    pending = await request(alice.id, 5_000)

    rejected = await payouts.reject_payout(
        pending.id, staff("fiona"), "  Bank details do not match. "
    )

    assert rejected.status is PayoutStatus.REJECTED
    assert rejected.reason == "Bank details do not match."
    assert rejected.decided_by == "fiona"
    assert await diamonds_of(alice.id) == 10_000
    assert await account(AccountCode.PAYOUT_HOLD) == 0
    assert (await kinds())[-2:] == ["PAYOUT_HOLD", "PAYOUT_RELEASED"]
    assert await daily_cap.requested_today(alice.id) == 0
    with pytest.raises(PayoutAlreadyDecided):
        await payouts.approve_payout(pending.id, staff("gina"), provider=SANDBOX)
    with pytest.raises(DomainError) as no_reason:
        await payouts.reject_payout(pending.id, staff("fiona"), " ")
    assert no_reason.value.field == "reason"
    assert await SandboxPayoutTransfer.count() == 0


async def test_the_creator_cancels_a_pending_payout_once() -> None:
    alice = await creator(10_000)
    pending = await request(alice.id, 5_000)

    cancelled = await payouts.cancel_payout(alice.id, pending.id)
    before = await writes()
    again = await payouts.cancel_payout(alice.id, pending.id)

    assert cancelled.status is PayoutStatus.CANCELLED
    assert again == cancelled
    assert await writes() == before
    assert await diamonds_of(alice.id) == 10_000
    assert await account(AccountCode.PAYOUT_HOLD) == 0
    with pytest.raises(PayoutAlreadyDecided):
        await payouts.reject_payout(pending.id, staff("fiona"), "late")


async def test_cancel_after_approval_is_refused_and_moves_nothing() -> None:
    alice = await creator(10_000)
    paid = await payouts.approve_payout(
        (await request(alice.id, 2_000)).id, staff("fiona"), provider=SANDBOX
    )
    before = await writes()

    with pytest.raises(DomainError) as refused:
        await payouts.cancel_payout(alice.id, paid.id)

    assert refused.value.code is ErrorCode.PAYOUT_NOT_CANCELLABLE
    assert refused.value.field == "payoutId"
    assert await writes() == before
    assert (await payout_queries.get_payout(paid.id)).status is PayoutStatus.PAID
    assert await diamonds_of(alice.id) == 8_000


async def test_nobody_else_can_cancel_a_creators_payout() -> None:
    alice = await creator(10_000)
    mallory = await creator(0)
    pending = await request(alice.id, 2_000)

    with pytest.raises(DomainError) as hidden:
        await payouts.cancel_payout(mallory.id, pending.id)

    assert hidden.value.code is ErrorCode.NOT_FOUND
    assert (await payout_queries.get_payout(pending.id)).status is PayoutStatus.PENDING
    assert await account(AccountCode.PAYOUT_HOLD) == 2_000


# Checks -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("diamonds", "code"),
    [
        (0, ErrorCode.INVALID_INPUT),
        (1_999, ErrorCode.BELOW_PAYOUT_MINIMUM),
        (10_001, ErrorCode.INSUFFICIENT_FUNDS),
        (200_001, ErrorCode.PAYOUT_LIMIT_REACHED),
    ],
)
async def test_a_refused_request_writes_nothing(diamonds: int, code: ErrorCode) -> None:
    alice = await creator(10_000)
    before = await writes()

    with pytest.raises(DomainError) as refused:
        await request(alice.id, diamonds, key="k")

    assert refused.value.code is code
    assert refused.value.field == ("diamonds" if code is not ErrorCode.INSUFFICIENT_FUNDS else None)
    assert await writes() == before
    assert await diamonds_of(alice.id) == 10_000
    assert await daily_cap.requested_today(alice.id) == 0


async def test_minors_and_frozen_creators_cannot_request() -> None:
    minor = await creator(10_000, age=16)
    frozen = await creator(10_000)
    await User.update({User.frozen: True}).where(User.id == frozen.id)

    with pytest.raises(DomainError) as too_young:
        await request(minor.id, 2_000)
    with pytest.raises(DomainError) as is_frozen:
        await request(frozen.id, 2_000)

    assert too_young.value.code is ErrorCode.AGE_RESTRICTED
    assert is_frozen.value.code is ErrorCode.ACCOUNT_FROZEN
    assert await Payout.count() == 0
    assert await diamonds_of(minor.id) == await diamonds_of(frozen.id) == 10_000


async def test_staff_cannot_pay_out_a_frozen_account() -> None:
    alice = await creator(10_000)
    pending = await request(alice.id, 2_000)
    await User.update({User.frozen: True}).where(User.id == alice.id)

    with pytest.raises(DomainError) as refused:
        await payouts.approve_payout(pending.id, staff("fiona"), provider=SANDBOX)

    assert refused.value.code is ErrorCode.ACCOUNT_FROZEN
    assert (await payout_queries.get_payout(pending.id)).status is PayoutStatus.PENDING
    assert await SandboxPayoutTransfer.count() == 0


# The daily cap ------------------------------------------------------------------------


async def test_daily_cap_counts_every_request_of_the_utc_day() -> None:
    set_clock(lambda: datetime(2026, 11, 25, 23, 0, tzinfo=UTC))
    alice = await creator(300_000)

    first = await request(alice.id, 120_000)
    await request(alice.id, 70_000)
    with pytest.raises(DomainError) as over:
        await request(alice.id, 10_001)
    assert over.value.code is ErrorCode.PAYOUT_LIMIT_REACHED
    assert "10000 are left" in over.value.message
    last = await request(alice.id, 10_000)  # exactly the cap
    assert await daily_cap.requested_today(alice.id) == 200_000

    # A rejected or cancelled payout gives its diamonds back to the day it was asked on.
    await payouts.reject_payout(first.id, staff("fiona"), "Check your bank details.")
    await request(alice.id, 120_000)
    with pytest.raises(DomainError):
        await request(alice.id, 2_000)
    await payouts.approve_payout(last.id, staff("fiona"), provider=SANDBOX)  # paid still counts
    with pytest.raises(DomainError):
        await request(alice.id, 2_000)

    set_clock(lambda: datetime(2026, 11, 26, 0, 1, tzinfo=UTC))
    assert await daily_cap.requested_today(alice.id) == 0
    tomorrow = await request(alice.id, 2_000)
    assert tomorrow.status is PayoutStatus.PENDING
    await assert_hold_matches_payouts()
    assert await diamonds_of(alice.id) == 300_000 - 70_000 - 10_000 - 120_000 - 2_000


async def test_concurrent_requests_never_pass_the_daily_cap() -> None:
    alice = await creator(400_000)

    outcomes = await asyncio.gather(
        *(request(alice.id, 30_000, key=f"c{i}") for i in range(10)), return_exceptions=True
    )

    made = [o for o in outcomes if isinstance(o, payout_records.PayoutRecord)]
    refused = [o for o in outcomes if not isinstance(o, payout_records.PayoutRecord)]
    assert len(made) == 6  # 6 x 30,000 = 180,000; a seventh would pass 200,000
    assert all(
        isinstance(o, DomainError) and o.code is ErrorCode.PAYOUT_LIMIT_REACHED for o in refused
    ), refused
    assert await daily_cap.requested_today(alice.id) == 180_000
    assert await account(AccountCode.PAYOUT_HOLD) == 180_000
    assert await diamonds_of(alice.id) == 220_000
    [total] = await PayoutDailyTotal.select()
    assert total["diamonds"] == 180_000
    await assert_hold_matches_payouts()


# Exactly once under concurrency -------------------------------------------------------


async def test_concurrent_approve_and_reject_exactly_one_wins() -> None:
    alice = await creator(10_000)
    for round_ in range(3):
        pending = await request(alice.id, 2_000, key=f"race-{round_}")

        outcomes = await asyncio.gather(
            payouts.approve_payout(pending.id, staff("fiona"), provider=SANDBOX),
            payouts.reject_payout(pending.id, staff("gina"), "Looks off."),
            payouts.approve_payout(pending.id, staff("hank"), provider=SANDBOX),
            payouts.cancel_payout(alice.id, pending.id),
            return_exceptions=True,
        )

        winners = [o for o in outcomes if isinstance(o, payout_records.PayoutRecord)]
        losers = [o for o in outcomes if not isinstance(o, payout_records.PayoutRecord)]
        assert len(winners) == 1, outcomes
        assert all(
            isinstance(o, PayoutAlreadyDecided)
            or (isinstance(o, DomainError) and o.code is ErrorCode.PAYOUT_NOT_CANCELLABLE)
            for o in losers
        ), losers
        final = await payout_queries.get_payout(pending.id)
        assert final.status is winners[0].status
        resolutions = await Transfer.count().where(
            Transfer.kind.is_in(
                [TransferKind.PAYOUT_PAID.value, TransferKind.PAYOUT_RELEASED.value]
            )
        )
        assert resolutions == round_ + 1
        assert await account(AccountCode.PAYOUT_HOLD) == 0
        await assert_hold_matches_payouts()

    paid = await account(AccountCode.PAYOUTS_PAID)
    assert await diamonds_of(alice.id) + paid == 10_000
    assert await SandboxPayoutTransfer.count() == paid // 2_000


async def test_two_staff_approving_at_once_pay_once() -> None:
    alice = await creator(10_000)
    pending = await request(alice.id, 2_000)

    outcomes = await asyncio.gather(
        *(
            payouts.approve_payout(pending.id, staff(f"staff{i}"), provider=SANDBOX)
            for i in range(4)
        ),
        return_exceptions=True,
    )

    assert sum(isinstance(o, payout_records.PayoutRecord) for o in outcomes) == 1, outcomes
    assert sum(isinstance(o, PayoutAlreadyDecided) for o in outcomes) == 3
    assert await SandboxPayoutTransfer.count() == 1
    assert await account(AccountCode.PAYOUTS_PAID) == 2_000
    assert await Transfer.count().where(Transfer.kind == TransferKind.PAYOUT_PAID.value) == 1


# Listing ------------------------------------------------------------------------------


async def test_list_payouts_filters_by_status_and_pages() -> None:
    alice = await creator(20_000)
    bob = await creator(20_000)
    made = [await request(user.id, 2_000) for user in (alice, bob, alice, bob, alice)]
    await payouts.reject_payout(made[1].id, staff("fiona"), "no")

    pending = await payout_queries.list_payouts(status=PayoutStatus.PENDING, limit=10)
    first_page = await payout_queries.list_payouts(limit=2)
    second_page = await payout_queries.list_payouts(limit=2, after=first_page[-1].id)
    queue = await payout_queries.list_payouts(
        status=PayoutStatus.PENDING, limit=2, oldest_first=True
    )
    rest = await payout_queries.list_payouts(
        status=PayoutStatus.PENDING, limit=10, oldest_first=True, after=queue[-1].id
    )

    assert [p.id for p in pending] == [made[4].id, made[3].id, made[2].id, made[0].id]
    assert [p.id for p in first_page + second_page] == [p.id for p in reversed(made)][:4]
    assert [p.id for p in queue + rest] == [made[0].id, made[2].id, made[3].id, made[4].id]
    mine = await payout_queries.list_payouts(creator_id=bob.id)
    assert [p.id for p in mine] == [made[3].id, made[1].id]


# Auto-approval ------------------------------------------------------------------------

AUTO = PayoutSettings(auto_approve=True, auto_approve_max_diamonds=5_000)


async def old_creator(diamonds: int = 20_000):
    set_clock(lambda: datetime.now(UTC) - timedelta(days=40))
    user = await creator(diamonds)
    set_clock(None)
    return user


async def test_auto_approval_is_off_by_default() -> None:
    assert PayoutSettings().auto_approve is False
    alice = await old_creator()

    payout = await request(alice.id, 2_000, policy=PayoutSettings())

    assert payout.status is PayoutStatus.PENDING


async def test_auto_approval_pays_small_payouts_of_creators_in_good_standing() -> None:
    alice = await old_creator()

    small = await request(alice.id, 5_000, policy=AUTO)
    large = await request(alice.id, 5_001, policy=AUTO)

    assert small.status is PayoutStatus.PAID
    assert small.decided_by == payouts.AUTO_APPROVER.handle
    assert large.status is PayoutStatus.PENDING
    assert await account(AccountCode.PAYOUTS_PAID) == 5_000
    assert await account(AccountCode.PAYOUT_HOLD) == 5_001


async def test_flagged_or_new_creators_wait_for_review() -> None:
    flagged = await old_creator()
    await fraud.raise_flag(flagged.id, FraudRule.CONCENTRATION_BEFORE_PAYOUT, Severity.MEDIUM, {})
    newcomer = await creator(20_000)

    held = await request(flagged.id, 2_000, policy=AUTO)
    young = await request(newcomer.id, 2_000, policy=AUTO)

    assert held.status is PayoutStatus.PENDING
    assert young.status is PayoutStatus.PENDING
    assert await SandboxPayoutTransfer.count() == 0
    # Staff review may still approve the flagged creator.
    paid = await payouts.approve_payout(held.id, staff("fiona"), provider=SANDBOX)
    assert paid.status is PayoutStatus.PAID


async def test_a_failed_auto_payment_still_returns_the_request() -> None:
    alice = await old_creator()

    class Down:
        async def send(self, payout: payout_records.PayoutRecord) -> str:
            raise PayoutProviderError("bank unreachable")

    payout = await payouts.auto_approve((await request(alice.id, 2_000)).id, AUTO, Down())

    assert payout.status is PayoutStatus.APPROVED
    assert await account(AccountCode.PAYOUT_HOLD) == 2_000
    assert (await payouts.pay_payout(payout.id, provider=SANDBOX)).status is PayoutStatus.PAID

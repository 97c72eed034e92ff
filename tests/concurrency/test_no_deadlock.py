"""No deadlock reaches a client: opposite operations on the same rows, 200 rounds each.

Every path that takes several locks takes them in one order (ledger accounts by id, last;
payouts: the payout row, the daily-cap row, then the accounts), so PostgreSQL detects no
deadlock at all, and every answer is a result or a refusal with its code.
"""

from __future__ import annotations

import asyncio
import itertools

import pytest

from app import ledger
from app.core.database import is_sqlite
from app.core.errors import DomainError, ErrorCode
from app.core.money import Money
from app.integrity import verify_all
from app.ledger import AccountCode
from app.payouts import queries as payout_queries
from app.payouts import service as payouts
from app.payouts.codes import PayoutStatus
from app.payouts.provider import SandboxPayoutProvider
from app.payouts.records import PayoutRecord
from app.purchases.buying import purchase_coins
from app.purchases.codes import Platform, Provider
from app.purchases.packages import create_package
from app.purchases.refunds import refund_purchase
from app.purchases.verifiers.sandbox import SandboxVerifier
from app.settings import EconomySettings, Settings
from tests.concurrency.helpers import concurrent_connections, deadlocks_counted, unexpected
from tests.factories import (
    coins_of,
    diamonds_of,
    give_diamonds,
    make_gift,
    make_stream,
    make_user,
    send,
    staff,
    subscribed,
)

pytestmark = pytest.mark.usefixtures("db")

ECONOMY = EconomySettings()
SANDBOX = SandboxPayoutProvider()
_keys = itertools.count(1)


def rounds() -> int:
    return 20 if is_sqlite() else 200


async def assert_ledger_holds() -> None:
    report = await verify_all()
    assert report.ok, report.breaches


async def test_gifting_both_ways_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    alice, bob = await make_user(coins=10_000), await make_user(coins=10_000)
    alices, bobs = await make_stream(alice), await make_stream(bob)
    rose = await make_gift("rose", coins=3)
    await concurrent_connections()

    with deadlocks_counted(monkeypatch) as deadlocks:
        outcomes = []
        for _ in range(rounds()):
            outcomes += await asyncio.gather(
                send(alice, bobs, rose), send(bob, alices, rose), return_exceptions=True
            )

    assert unexpected(outcomes) == []
    assert all(not isinstance(o, BaseException) for o in outcomes), outcomes[:3]
    assert deadlocks == []
    spent = 3 * rounds()
    assert await coins_of(alice.id) == await coins_of(bob.id) == 10_000 - spent
    assert await diamonds_of(alice.id) == await diamonds_of(bob.id) == 2 * rounds()
    await assert_ledger_holds()


async def test_payout_requests_and_cancels_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    creator = await make_user()
    await give_diamonds(creator.id, 2_000 * (rounds() + 1))
    pending = await payouts.request_payout(creator.id, 2_000, "first", economy=ECONOMY)
    await concurrent_connections()

    with deadlocks_counted(monkeypatch) as deadlocks:
        outcomes: list[object] = []
        for n in range(rounds()):
            requested, cancelled = await asyncio.gather(
                payouts.request_payout(creator.id, 2_000, f"r{n}", economy=ECONOMY),
                payouts.cancel_payout(creator.id, pending.id),
                return_exceptions=True,
            )
            outcomes += [requested, cancelled]
            if isinstance(requested, PayoutRecord):
                pending = requested

    assert unexpected(outcomes) == []
    refusals = [o for o in outcomes if isinstance(o, DomainError)]
    # Only the daily cap may refuse (200,000 a day = 100 requests of 2,000).
    assert {o.code for o in refusals} <= {ErrorCode.PAYOUT_LIMIT_REACHED}
    assert deadlocks == []
    held = (await payout_queries.held_diamonds([creator.id])).get(creator.id, 0)
    assert await ledger.system_balance(AccountCode.PAYOUT_HOLD) == held
    assert await diamonds_of(creator.id) + held == 2_000 * (rounds() + 1)
    await assert_ledger_holds()


async def test_approve_and_cancel_of_one_payout_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    creator = await make_user()
    total = 2_000 * rounds()
    await give_diamonds(creator.id, total)
    economy = EconomySettings(maximum_daily_payout_diamonds=total)
    await concurrent_connections()

    with deadlocks_counted(monkeypatch) as deadlocks:
        outcomes: list[object] = []
        for n in range(rounds()):
            pending = await payouts.request_payout(creator.id, 2_000, f"a{n}", economy=economy)
            outcomes += await asyncio.gather(
                payouts.approve_payout(pending.id, staff("fin"), provider=SANDBOX),
                payouts.cancel_payout(creator.id, pending.id),
                return_exceptions=True,
            )

    assert unexpected(outcomes) == []
    assert deadlocks == []
    statuses = [
        (await payout_queries.get_payout(o.id)).status
        for o in outcomes
        if isinstance(o, PayoutRecord)
    ]
    assert len(statuses) == rounds()  # exactly one winner a round
    assert set(statuses) <= {PayoutStatus.PAID, PayoutStatus.CANCELLED}
    paid = await ledger.system_balance(AccountCode.PAYOUTS_PAID)
    assert paid == 2_000 * statuses.count(PayoutStatus.PAID)
    assert await ledger.system_balance(AccountCode.PAYOUT_HOLD) == 0
    assert await diamonds_of(creator.id) + paid == total
    await assert_ledger_holds()


async def test_refunds_and_gifts_of_the_same_coins_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    alice, bob = await make_user(), await make_user()
    stream = await make_stream(bob)
    rose = await make_gift("rose", coins=5)
    package = await create_package(
        platform=Platform.WEB, coins=10, bonus_coins=0, price=Money(99, "USD")
    )
    await concurrent_connections()

    # No maturation window: the refunds' tracing reverses no gift, so the coins are exact.
    no_window = Settings(env="test", economy=EconomySettings(earnings_maturation_days=0))
    with deadlocks_counted(monkeypatch) as deadlocks, subscribed(no_window):
        outcomes: list[object] = []
        for n in range(rounds()):
            await purchase_coins(
                user_id=alice.id,
                package_id=package.id,
                provider=Provider.SANDBOX,
                receipt=f"receipt-{n}",
                idempotency_key=f"buy-{n}",
                verifier=SandboxVerifier(enabled=True),
            )
            outcomes += await asyncio.gather(
                refund_purchase(Provider.SANDBOX, f"receipt-{n}", reason="chargeback"),
                send(alice, stream, rose, key=f"gift-{n}"),
                return_exceptions=True,
            )

    assert unexpected(outcomes) == []
    refusals = {o.code for o in outcomes if isinstance(o, DomainError)}
    # A gift that loses the race to the clawback finds no coins: a refusal, never an error.
    assert refusals <= {ErrorCode.INSUFFICIENT_FUNDS}
    assert deadlocks == []
    gifts = sum(1 for o in outcomes if not isinstance(o, BaseException) and hasattr(o, "event"))
    assert await coins_of(alice.id) == -5 * gifts
    assert await diamonds_of(bob.id) == 3 * gifts
    await assert_ledger_holds()

"""Conservation under concurrency: 8 workers of random operations on shared accounts.

Purchases, gifts between random users, refunds, gift reversals, redemptions, payout
requests, approvals, rejections and cancels run at once on real concurrent connections.
Each committed operation is replayed on a sequential model (a balance change per user);
afterwards ``ledger verify`` passes and every balance equals the model's. A refusal is
fine (it has a code); anything else is what a client would see as "Unexpected error.".
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from dataclasses import dataclass, field

import pytest

from app import ledger
from app.core.database import is_sqlite
from app.core.errors import DomainError
from app.core.money import Money
from app.fraud.review import reverse_gift
from app.gifts.service import SentGift
from app.integrity import verify_all
from app.ledger import AccountCode, Currency
from app.offers.catalog import add_codes, create_offer
from app.offers.redeeming import redeem_offer
from app.payouts import service as payouts
from app.payouts.provider import SandboxPayoutProvider
from app.payouts.queries import held_diamonds
from app.payouts.records import PayoutRecord
from app.purchases.buying import purchase_coins
from app.purchases.codes import Platform, Provider
from app.purchases.packages import create_package
from app.purchases.refunds import refund_purchase
from app.purchases.verifiers.sandbox import SandboxVerifier
from app.settings import EconomySettings, Settings, SpendingSettings
from tests.concurrency.helpers import concurrent_connections
from tests.factories import (
    give_diamonds,
    make_gift,
    make_stream,
    make_user,
    send,
    settled,
    staff,
    subscribed,
)

pytestmark = pytest.mark.usefixtures("db")

WORKERS = 8
USERS = 6
PLATFORM = SpendingSettings(new_account_daily_coins=10**9)
ECONOMY = EconomySettings(maximum_daily_payout_diamonds=10**9)
# A refund's tracing reverses only gifts still maturing: none with no window, so the model
# (which does not follow the tracing) stays exact while the tracing still runs and flags.
NO_WINDOW = Settings(env="test", economy=EconomySettings(earnings_maturation_days=0))
SANDBOX = SandboxPayoutProvider()
KINDS = (
    "purchase", "gift", "gift", "gift", "refund", "reverse", "redeem",
    "request", "approve", "reject", "cancel",
)  # fmt: skip


@dataclass
class Model:
    """Balance changes of committed operations, summed: the order they committed in does
    not change a sum, so this is the sequential replay of what committed."""

    coins: Counter[int] = field(default_factory=Counter)
    diamonds: Counter[int] = field(default_factory=Counter)
    purchases: list[tuple[int, str, int]] = field(default_factory=list)  # user, receipt, coins
    gifts: list[SentGift] = field(default_factory=list)
    pending: list[PayoutRecord] = field(default_factory=list)
    done: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)
    unexpected: list[BaseException] = field(default_factory=list)
    cancel_tried: set[int] = field(default_factory=set)


async def test_random_operations_from_eight_workers_conserve_every_balance() -> None:
    # 8 x 250 = 2,000 interleaved operations on PostgreSQL: every kind runs ~180 times,
    # racing the others on six shared users (twice that only doubled the time).
    operations = 30 if is_sqlite() else 250
    users = [await make_user(coins=2_000) for _ in range(USERS)]
    for user in users:
        await give_diamonds(user.id, 20_000)
    start = {u.id: (2_000, 20_000) for u in users}
    streams = {u.id: await make_stream(u) for u in users}
    gifts = [await make_gift(coins=c) for c in (1, 5, 30, 99)]
    package = await create_package(
        platform=Platform.WEB, coins=100, bonus_coins=10, price=Money(99, "USD")
    )
    offer = await create_offer(brand="Bean", title="Coffee", coin_cost=40, per_user_limit=10**3)
    await add_codes(offer, [f"C-{n}" for n in range(WORKERS * operations // 10)])
    await concurrent_connections(WORKERS)
    model = Model()

    async def one(rng: random.Random, worker: int, n: int) -> None:
        kind = rng.choice(KINDS)
        user = rng.choice(users)
        key = f"w{worker}-{n}"
        try:
            if kind == "purchase":
                record = await purchase_coins(
                    user_id=user.id,
                    package_id=package.id,
                    provider=Provider.SANDBOX,
                    receipt=key,
                    idempotency_key=key,
                    verifier=SandboxVerifier(enabled=True),
                )
                model.coins[user.id] += record.total_coins
                model.purchases.append((user.id, key, record.total_coins))
            elif kind == "gift":
                host = rng.choice([u for u in users if u.id != user.id])
                sent = await send(
                    user, streams[host.id], rng.choice(gifts), rng.randint(1, 3),
                    key=key, platform=PLATFORM,
                )  # fmt: skip
                model.coins[user.id] -= sent.event.coins
                model.diamonds[host.id] += sent.event.diamonds
                model.gifts.append(sent)
            elif kind == "refund" and model.purchases:
                buyer, receipt, coins = rng.choice(model.purchases)
                if await refund_purchase(Provider.SANDBOX, receipt, reason="chargeback"):
                    model.coins[buyer] -= coins
            elif kind == "reverse" and model.gifts:
                event = rng.choice(model.gifts).event
                await reverse_gift(event.id, actor=staff("mod", "MODERATOR"), reason="ring")
                # The price back to the sender; the host's diamonds withdrawn or taken back.
                model.coins[event.sender_id] += event.coins
                model.diamonds[event.host_id] -= event.diamonds
            elif kind == "redeem":
                done = await redeem_offer(
                    user_id=user.id, offer_id=offer, idempotency_key=key, platform=PLATFORM
                )
                model.coins[user.id] -= done.redemption.coins
            elif kind == "request":
                payout = await payouts.request_payout(
                    user.id, rng.choice((2_000, 2_500, 4_000)), key, economy=ECONOMY
                )
                model.diamonds[user.id] -= payout.diamonds
                model.pending.append(payout)
            elif kind in ("approve", "reject", "cancel") and model.pending:
                payout = rng.choice(model.pending)
                if kind == "approve":
                    await payouts.approve_payout(payout.id, staff("fin"), provider=SANDBOX)
                elif kind == "reject":
                    await payouts.reject_payout(payout.id, staff("fin"), "not this time")
                else:
                    if payout.id in model.cancel_tried:
                        return
                    # One worker cancels a payout: a cancel that returns CANCELLED is its own.
                    model.cancel_tried.add(payout.id)
                    await payouts.cancel_payout(payout.creator_id, payout.id)
                if kind != "approve":
                    model.diamonds[payout.creator_id] += payout.diamonds
            else:
                return
            model.done[kind] += 1
        except DomainError as refusal:
            model.refused[f"{kind}:{refusal.code.value}"] += 1
        except Exception as error:
            model.unexpected.append(error)

    async def worker(number: int) -> None:
        rng = random.Random(number)
        for n in range(operations):
            await one(rng, number, n)

    with subscribed(NO_WINDOW):
        await asyncio.gather(*(worker(w) for w in range(WORKERS)))
    await settled()

    assert model.unexpected == []
    assert sum(model.done.values()) > WORKERS * operations // 3, (model.done, model.refused)
    report = await verify_all()
    assert report.ok, report.breaches
    balances = await ledger.user_balances([u.id for u in users])
    for user in users:
        coins, diamonds = start[user.id]
        assert balances[user.id][Currency.COIN] == coins + model.coins[user.id], user.id
        assert balances[user.id][Currency.DIAMOND] == diamonds + model.diamonds[user.id], user.id
    held = await held_diamonds(sorted({p.creator_id for p in model.pending}))
    assert await ledger.system_balance(AccountCode.PAYOUT_HOLD) == sum(held.values())

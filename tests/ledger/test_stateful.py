"""Every way value moves, in random order, against a plain model of who holds what.

A hypothesis state machine drives the real services (not the API): sandbox purchases,
refunds, gifts (queued for the settler, which credits hosts in batches), gift reversals,
payout requests with their approval, rejection and cancellation, and partner-offer
redemptions; and, around them, what changes their outcome: freezing accounts, ending and
restarting streams, re-pricing gifts. Steps pick fresh or already-tried idempotency keys,
and the replay rule sends a step that moved value again, so replays and
``IDEMPOTENCY_KEY_REUSED`` come up as often as other refusals.

For every step the model predicts success or the ``DomainError`` code the service raises
(checked in the service's own order), and each user's coins, settled and queued diamonds
and each system account afterwards. After every step: ``verify_all`` (the ledger, the
settlement and the payout holds) is ok; the run's users and the system accounts match the
model; the payout hold carries exactly the open payouts' diamonds; and the run's coins and
diamonds add up (issued = held + sunk + redeemed ...).

Each run signs up fresh users and makes its own packages, gifts and offers, settles what
earlier runs left queued, and measures the system accounts from where it found them, so
runs share the test's database without seeing each other. The clock is pinned to a
mid-day that moves with the wall clock, so "today" (spending and payout caps) never
changes during a run.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import os
from collections import Counter
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from app.core.clock import set_clock
from app.core.database import close_pool, current_engine, open_pool
from app.core.errors import DomainError, ErrorCode
from app.core.money import Money
from app.core.transactions import in_transaction
from app.fraud.codes import FraudRule
from app.fraud.review import reverse_gift
from app.fraud.service import list_flags
from app.gifts.catalog import create_gift, edit_gift, set_retired
from app.gifts.service import send_gift
from app.gifts.settlement import queued_diamonds, settle, settle_all
from app.integrity import verify_all
from app.ledger import AccountCode, Currency, user_balances
from app.ledger.verify import Report
from app.offers.catalog import add_codes, create_offer
from app.offers.redeeming import redeem_offer
from app.payouts.codes import HELD_STATUSES, PayoutStatus
from app.payouts.provider import SandboxPayoutProvider
from app.payouts.queries import held_diamonds
from app.payouts.service import approve_payout, cancel_payout, reject_payout, request_payout
from app.purchases.buying import purchase_coins
from app.purchases.codes import Platform, Provider
from app.purchases.packages import create_package
from app.purchases.packages import set_active as set_package_active
from app.purchases.refunds import refund_purchase
from app.purchases.verifiers.sandbox import SandboxVerifier
from app.settings import EconomySettings, Settings, SpendingSettings
from app.streams.service import end_stream, start_stream
from app.users.service import set_frozen
from tests.factories import make_user, staff, subscribed, system_balances

T = TypeVar("T")

ADULTS = 4
MINOR = ADULTS  # the last user is 17: whatever they try that moves value is AGE_RESTRICTED
PEOPLE = ADULTS + 1
SHARE = Fraction(1, 2)
PLATFORM = SpendingSettings(new_account_daily_coins=800)  # every run's users are new
# No maturation window: the model pays out what was earned at once (tests/payouts covers
# the window).
ECONOMY = EconomySettings(
    minimum_payout_diamonds=100, maximum_daily_payout_diamonds=200, earnings_maturation_days=0
)
MODERATOR = staff("stateful-mod", "MODERATOR")
FINANCE = staff("stateful-finance", "FINANCE")
NOON = datetime(2031, 5, 14, 12, 0, tzinfo=UTC)
# Runs of STEPS steps per database: few, to keep the suite fast; set more to hunt longer.
RUNS = int(os.environ.get("COINS_STATEFUL_RUNS", "5"))
STEPS = 25
# Shrinking a failure re-runs the machine hundreds of times (minutes here), so a failure is
# reported as found unless this is set; hypothesis keeps it in .hypothesis/ to shrink later.
PHASES = (Phase.explicit, Phase.reuse, Phase.generate) + (
    (Phase.shrink,) if os.environ.get("COINS_STATEFUL_SHRINK") else ()
)


@dataclass(frozen=True)
class PackageSpec:
    coins: int
    bonus_coins: int
    active: bool = True


@dataclass(frozen=True)
class OfferSpec:
    coin_cost: int
    codes: int
    active: bool = True
    per_user_limit: int = 1


PACKAGES = (PackageSpec(70, 0), PackageSpec(700, 50), PackageSpec(350, 0, active=False))
BIG_PACKAGE = 1
GIFT_COSTS = (1, 5, 30, 250)  # and one more gift, retired at set-up
RETIRED_GIFT = len(GIFT_COSTS)
PRICES = (1, 3, 30, 99, 250, 500)  # what a re-priced gift may cost
OFFERS = (
    OfferSpec(50, 3, per_user_limit=2),
    OfferSpec(400, 1),
    OfferSpec(20, 2, active=False),
)
SYSTEM_CODES = tuple(code for code in AccountCode if code is not AccountCode.USER)

_serial = itertools.count(1)

people = st.integers(0, PEOPLE - 1)
adults = st.integers(0, ADULTS - 1)
# Whose stream a gift goes to, counted from the sender; rarely (0) their own.
hosts_from = st.sampled_from((1, 2, 3, 1, 2, 3, 0))
gifts = st.integers(0, RETIRED_GIFT)
quantities = st.sampled_from((1, 2, 1, 3, 1, 2, 0, 100))  # mostly ones a user may send
packages = st.integers(0, len(PACKAGES) - 1)
offers = st.integers(0, len(OFFERS) - 1)
# What a creator asks to be paid: mostly all their settled diamonds (what can be paid),
# or all their wallet shows (queued ones too), or an amount from 0 to past the daily cap.
payout_amounts = st.one_of(st.sampled_from(("settled", "settled", "shown")), st.integers(0, 300))
# None (three times as likely): a fresh key; a number: one of the keys this user already
# tried, whether that step succeeded or not.
keys = st.one_of(st.none(), st.none(), st.none(), st.integers(0, 63))
# Which earlier purchase, payout or keyed step a rule acts on.
picks = st.integers(0, 255)
# None (three times as likely): a fresh receipt; a number: one already tried.
receipts = st.one_of(st.none(), st.none(), st.none(), picks)


def diamonds_for(coin_cost: int) -> int:
    """The published rule: coins x share, rounded half up in the creator's favour, at least 1."""
    return max(1, (coin_cost + 1) // 2)


def refuse_if(condition: bool, code: ErrorCode) -> ErrorCode | None:
    return code if condition else None


# The model -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Keyed:
    """What an idempotency key was first used for, and what it produced."""

    request: tuple[object, ...]
    result: int


@dataclass(frozen=True)
class Done:
    """A step that moved value under a key, to send again exactly as it was."""

    kind: str
    user: int
    key: str
    args: tuple[Any, ...]


@dataclass
class Bought:
    user: int
    purchase_id: int
    coins: int
    refunded: bool = False


@dataclass
class Sent:
    sender: int
    host: int
    coins: int
    diamonds: int
    reversed: bool = False


@dataclass
class Held:
    creator: int
    diamonds: int
    status: PayoutStatus = PayoutStatus.PENDING


Outcome = ErrorCode | Keyed | None  # a refusal, a replay of the key's first use, or success


def predict(*checks: Callable[[], Outcome]) -> Outcome:
    """The service's checks in the service's order: the first one that is not None decides."""
    for check in checks:
        outcome = check()
        if outcome is not None:
            return outcome
    return None


@dataclass
class Model:
    """Users by index (the last one is the minor); system accounts as moved in this run."""

    coins: list[int] = field(default_factory=lambda: [0] * PEOPLE)
    diamonds: list[int] = field(default_factory=lambda: [0] * PEOPLE)
    frozen: list[bool] = field(default_factory=lambda: [False] * PEOPLE)
    spent_today: list[int] = field(default_factory=lambda: [0] * PEOPLE)
    payouts_today: list[int] = field(default_factory=lambda: [0] * PEOPLE)
    system: dict[AccountCode, int] = field(default_factory=lambda: dict.fromkeys(SYSTEM_CODES, 0))
    keys: list[dict[str, Keyed]] = field(default_factory=lambda: [{} for _ in range(PEOPLE)])
    tried_keys: list[list[str]] = field(default_factory=lambda: [[] for _ in range(PEOPLE)])
    done: list[Done] = field(default_factory=list)
    purchases: dict[str, Bought] = field(default_factory=dict)  # by receipt
    tried_receipts: list[str] = field(default_factory=list)  # paid or refused
    events: dict[int, Sent] = field(default_factory=dict)  # by gift event id
    # Gifts whose diamonds wait for the settler, oldest first: (host, diamonds) by event id.
    queued: dict[int, tuple[int, int]] = field(default_factory=dict)
    payouts: dict[int, Held] = field(default_factory=dict)  # by payout id
    gift_costs: list[int] = field(default_factory=lambda: list(GIFT_COSTS))
    codes_left: list[int] = field(default_factory=lambda: [o.codes for o in OFFERS])
    redeemed: Counter[tuple[int, int]] = field(default_factory=Counter)  # (user, offer)
    live: list[bool] = field(default_factory=lambda: [True] * ADULTS)

    def may_transact(self, user: int) -> ErrorCode | None:
        if user == MINOR:
            return ErrorCode.AGE_RESTRICTED
        return refuse_if(self.frozen[user], ErrorCode.ACCOUNT_FROZEN)

    def earlier(self, user: int, key: str, request: tuple[object, ...]) -> Outcome:
        """The key's first use when ``request`` repeats it; REUSED when it is another request."""
        keyed = self.keys[user].get(key)
        if keyed is None or keyed.request == request:
            return keyed
        return ErrorCode.IDEMPOTENCY_KEY_REUSED

    def remember(self, done: Done, request: tuple[object, ...], result: int) -> None:
        self.keys[done.user][done.key] = Keyed(request, result)
        self.done.append(done)

    def move(
        self,
        debit: AccountCode | tuple[str, int],
        credit: AccountCode | tuple[str, int],
        amount: int,
    ) -> None:
        """``("coins", user)`` or ``("diamonds", user)`` is a user's account."""
        for side, sign in ((debit, -1), (credit, 1)):
            if isinstance(side, AccountCode):
                self.system[side] += sign * amount
            else:
                currency, user = side
                (self.coins if currency == "coins" else self.diamonds)[user] += sign * amount

    def shown_diamonds(self, user: int) -> int:
        """Settled diamonds and those still queued for the user, as their wallet shows."""
        return self.diamonds[user] + sum(d for host, d in self.queued.values() if host == user)

    def release(self, payout: Held) -> None:
        """A cancelled or rejected payout: its diamonds go back, and back under today's cap."""
        self.move(AccountCode.PAYOUT_HOLD, ("diamonds", payout.creator), payout.diamonds)
        self.payouts_today[payout.creator] -= payout.diamonds


def step(method: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """A rule written as a coroutine, run to completion on the machine's event loop."""

    @functools.wraps(method)
    def run_step(self: LedgerMachine, **arguments: Any) -> None:
        self.run(method(self, **arguments))

    return run_step


def picked(items: Iterable[T], pick: int) -> T:
    """One of a model's purchases, gifts, payouts or keyed steps (dicts give their keys)."""
    choices = list(items)
    return choices[pick % len(choices)]


# The machine ---------------------------------------------------------------------------


class LedgerMachine(RuleBasedStateMachine):
    """One run: its own users and catalog, and one event loop (and pool) throughout."""

    def __init__(self) -> None:
        super().__init__()
        wall_start = datetime.now(UTC)
        set_clock(lambda: NOON + (datetime.now(UTC) - wall_start))
        self.runner = asyncio.Runner()
        self.engine = current_engine()
        self.model = Model()
        self.codes_handed_out: set[str] = set()
        try:
            self.run(open_pool(self.engine, 2))
            self.run(in_transaction(self.set_up))
            self.run(self.open())
        except BaseException:
            self.teardown()  # hypothesis tears down only a machine it got
            raise

    async def set_up(self) -> None:
        self.user_ids = [(await make_user()).id for _ in range(ADULTS)]
        self.user_ids.append((await make_user(age=17)).id)
        self.streams = [(await start_stream(uid, "Stateful")).id for uid in self.user_ids[:-1]]
        self.packages = []
        for spec in PACKAGES:
            package = await create_package(
                platform=Platform.WEB,
                coins=spec.coins,
                bonus_coins=spec.bonus_coins,
                price=Money(spec.coins + 29, "USD"),
            )
            if not spec.active:
                await set_package_active(package.id, active=False, actor=FINANCE)
            self.packages.append(package.id)
        self.gifts = []
        for cost in (*GIFT_COSTS, 100):
            gift = await create_gift(
                slug=f"stateful-{next(_serial)}",
                name="Stateful",
                coin_cost=cost,
                creator_share=SHARE,
            )
            assert gift.diamond_value == diamonds_for(cost)
            self.gifts.append(gift.id)
        await set_retired(self.gifts[RETIRED_GIFT], True)
        self.offers = []
        for spec in OFFERS:
            offer_id = await create_offer(
                brand="Partner",
                title="A treat",
                coin_cost=spec.coin_cost,
                active=spec.active,
                per_user_limit=spec.per_user_limit,
            )
            await add_codes(offer_id, [f"CODE-{offer_id}-{n}" for n in range(spec.codes)])
            self.offers.append(offer_id)
        await settle_all()  # what earlier runs left queued, so this run's queue is its own
        self.baseline = await system_balances()

    async def open(self) -> None:
        """Checked like any step: every adult buys the big package and sends the next one a
        250-coin gift, so gifts and payouts can succeed from the first step."""
        for user in range(ADULTS):
            await self.purchase(user, BIG_PACKAGE, f"receipt-{next(_serial)}", self.key_for(user))
        for user in range(ADULTS):
            await self.send(user, self.streams[(user + 1) % ADULTS], 3, 1, self.key_for(user))
        await self.settle_queue(None)

    def teardown(self) -> None:
        try:
            self.run(close_pool(self.engine))
        finally:
            self.runner.close()
            set_clock(None)

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.runner.run(coroutine)

    def key_for(self, user: int, choice: int | None = None) -> str:
        tried = self.model.tried_keys[user]
        if choice is None or not tried:
            tried.append(f"key-{next(_serial)}")
            return tried[-1]
        return tried[choice % len(tried)]

    @staticmethod
    async def attempt(outcome: Outcome, coroutine: Coroutine[Any, Any, T]) -> T | None:
        """Run a step: it raises the predicted refusal, or succeeds and returns its result."""
        refusal = outcome if isinstance(outcome, ErrorCode) else None
        try:
            result = await coroutine
        except DomainError as error:
            assert error.code is refusal, f"expected {refusal or 'success'}, got {error!r}"
            return None
        assert refusal is None, f"expected {refusal}, but it succeeded: {result!r}"
        return result

    # Purchases and refunds -----------------------------------------------------------

    @rule(user=people, package=packages, receipt=receipts, key=keys)
    @step
    async def buy(self, user: int, package: int, receipt: int | None, key: int | None) -> None:
        """A fresh receipt, or one tried before: RECEIPT_ALREADY_USED if it paid, else not."""
        tried = self.model.tried_receipts
        chosen = f"receipt-{next(_serial)}" if receipt is None else picked(tried, receipt)
        await self.purchase(user, package, chosen, self.key_for(user, key))

    async def purchase(self, user: int, package: int, receipt: str, key: str) -> None:
        m = self.model
        if receipt not in m.tried_receipts:
            m.tried_receipts.append(receipt)
        request = ("purchase", package, receipt)
        outcome = predict(
            lambda: m.may_transact(user),  # checked before the key: a replay can be refused
            lambda: m.earlier(user, key, request),
            lambda: refuse_if(not PACKAGES[package].active, ErrorCode.PACKAGE_UNAVAILABLE),
            lambda: refuse_if(receipt in m.purchases, ErrorCode.RECEIPT_ALREADY_USED),
        )
        record = await self.attempt(
            outcome,
            purchase_coins(
                user_id=self.user_ids[user],
                package_id=self.packages[package],
                provider=Provider.SANDBOX,
                receipt=receipt,
                idempotency_key=key,
                verifier=SandboxVerifier(enabled=True),
            ),
        )
        if record is None:
            return
        if isinstance(outcome, Keyed):
            assert record.id == outcome.result, "a replayed purchase is the first purchase"
            return
        spec = PACKAGES[package]
        assert (record.user_id, record.total_coins) == (
            self.user_ids[user],
            spec.coins + spec.bonus_coins,
        )
        m.move(AccountCode.COIN_ISSUANCE, ("coins", user), record.total_coins)
        m.purchases[receipt] = Bought(user, record.id, record.total_coins)
        m.remember(Done("purchase", user, key, (package, receipt)), request, record.id)

    @precondition(lambda self: self.model.purchases)
    @rule(pick=picks)
    @step
    async def refund(self, pick: int) -> None:
        """A refund or chargeback claws the coins back once, into the negative if spent."""
        m = self.model
        receipt = picked(m.purchases, pick)
        bought = m.purchases[receipt]
        before = m.coins[bought.user]
        clawback = await self.attempt(
            None, refund_purchase(Provider.SANDBOX, receipt, reason="refund")
        )
        if bought.refunded:
            assert clawback is None, "a purchase is clawed back once"
            return
        assert clawback is not None
        assert (clawback.coins, clawback.balance_before, clawback.balance_after) == (
            bought.coins,
            before,
            before - bought.coins,
        )
        bought.refunded = True
        m.move(("coins", bought.user), AccountCode.COIN_ISSUANCE, bought.coins)
        flags = await list_flags(
            rule=FraudRule.REFUND_AFTER_SPEND, subject_user_id=self.user_ids[bought.user]
        )
        flagged = any(flag.evidence.get("purchase_id") == bought.purchase_id for flag in flags)
        assert flagged == (before < bought.coins), "refunds of spent coins, and only they, flag"

    # Gifts and reversals -------------------------------------------------------------

    @rule(sender=people, host=hosts_from, gift=gifts, quantity=quantities, key=keys)
    @step
    async def gift(self, sender: int, host: int, gift: int, quantity: int, key: int | None) -> None:
        """``host`` counts from the sender: 0 is the sender's own stream."""
        stream_id = self.streams[(sender + host) % ADULTS]
        await self.send(sender, stream_id, gift, quantity, self.key_for(sender, key))

    @precondition(lambda self: self.model.events)
    @rule(key=keys)
    @step
    async def gift_again(self, key: int | None) -> None:
        """The newest gift's sender sends it again (a combo): a new key is a new gift."""
        done = next(d for d in reversed(self.model.done) if d.kind == "gift")
        await self.send(done.user, *done.args, self.key_for(done.user, key))

    async def send(self, sender: int, stream_id: int, gift: int, quantity: int, key: str) -> None:
        m = self.model
        # A stream the host has since ended and replaced is no longer theirs to find here.
        host = self.streams.index(stream_id) if stream_id in self.streams else None
        request = ("gift", stream_id, gift, quantity)
        coins = 0 if gift == RETIRED_GIFT else m.gift_costs[gift] * quantity
        outcome = predict(
            lambda: refuse_if(
                not 1 <= quantity <= PLATFORM.max_gift_quantity, ErrorCode.INVALID_INPUT
            ),
            lambda: m.earlier(sender, key, request),
            lambda: m.may_transact(sender),
            lambda: refuse_if(host is None or not m.live[host], ErrorCode.STREAM_NOT_LIVE),
            lambda: refuse_if(host == sender, ErrorCode.SELF_GIFT),
            lambda: refuse_if(gift == RETIRED_GIFT, ErrorCode.GIFT_UNAVAILABLE),
            lambda: refuse_if(
                m.spent_today[sender] + coins > PLATFORM.new_account_daily_coins,
                ErrorCode.SPENDING_LIMIT_REACHED,
            ),
            lambda: refuse_if(m.coins[sender] < coins, ErrorCode.INSUFFICIENT_FUNDS),
        )
        result = await self.attempt(
            outcome,
            send_gift(
                sender_id=self.user_ids[sender],
                stream_id=stream_id,
                gift_id=self.gifts[gift],
                quantity=quantity,
                idempotency_key=key,
                platform=PLATFORM,
            ),
        )
        if result is None:
            return
        assert result.replayed == isinstance(outcome, Keyed)
        if isinstance(outcome, Keyed):
            assert result.event.id == outcome.result, "a replayed gift is the first gift"
            return
        assert host is not None
        diamonds = diamonds_for(m.gift_costs[gift]) * quantity
        event = result.event
        assert (event.sender_id, event.host_id, event.coins, event.diamonds) == (
            self.user_ids[sender],
            self.user_ids[host],
            coins,
            diamonds,
        )
        m.move(("coins", sender), AccountCode.COIN_SINK, coins)
        m.spent_today[sender] += coins
        m.events[event.id] = Sent(sender, host, coins, diamonds)
        m.queued[event.id] = (host, diamonds)  # the host's diamonds come with the settler
        m.remember(Done("gift", sender, key, (stream_id, gift, quantity)), request, event.id)

    @precondition(lambda self: self.model.events)
    @rule(back=st.integers(0, 3))
    @step
    async def reverse(self, back: int) -> None:
        """A moderator reverses a gift, once: the price paid back, the diamonds taken back.

        ``back`` counts from the newest gift, so gifts still queued are reversed too."""
        m = self.model
        event_id = picked(reversed(m.events), back)
        event = m.events[event_id]
        reversal = await self.attempt(
            refuse_if(event.reversed, ErrorCode.INVALID_INPUT),
            reverse_gift(event_id, actor=MODERATOR, reason="stateful test"),
        )
        if reversal is None:
            return
        assert reversal.gift_event_id == event_id
        event.reversed = True
        # The price paid comes back, whatever the gift costs now. Diamonds still queued are
        # withdrawn; settled ones are taken back, into the negative if paid out.
        m.move(AccountCode.COIN_SINK, ("coins", event.sender), event.coins)
        if m.queued.pop(event_id, None) is None:
            m.move(("diamonds", event.host), AccountCode.DIAMOND_ISSUANCE, event.diamonds)

    @precondition(lambda self: self.model.queued)
    @rule(limit=st.one_of(st.none(), st.integers(1, 3)))
    @step
    async def settle_gifts(self, limit: int | None) -> None:
        """The settler credits queued gifts to their hosts, oldest first (all, or a batch)."""
        await self.settle_queue(limit)

    async def settle_queue(self, limit: int | None) -> None:
        m = self.model
        batch = list(m.queued)[:limit]
        settled = await (settle_all() if limit is None else settle(limit))
        assert settled == len(batch), f"settled {settled} gifts, the model queued {len(batch)}"
        for event_id in batch:
            host, diamonds = m.queued.pop(event_id)
            m.move(AccountCode.DIAMOND_ISSUANCE, ("diamonds", host), diamonds)

    @rule(gift=st.integers(0, len(GIFT_COSTS) - 1), cost=st.sampled_from(PRICES))
    @step
    async def reprice(self, gift: int, cost: int) -> None:
        await edit_gift(self.gifts[gift], name="Stateful", coin_cost=cost, creator_share=SHARE)
        self.model.gift_costs[gift] = cost

    @rule(user=adults, stream=st.booleans())
    @step
    async def toggle(self, user: int, stream: bool) -> None:
        """The user ends or restarts their stream (``stream``), or a moderator freezes or
        unfreezes them: what makes later steps STREAM_NOT_LIVE or ACCOUNT_FROZEN."""
        if stream:
            await self.end_or_restart_stream(user)
        else:
            await self.freeze_or_unfreeze(user)

    async def end_or_restart_stream(self, host: int) -> None:
        m = self.model
        if m.live[host]:
            await end_stream(self.user_ids[host], self.streams[host])
            m.live[host] = False
            return
        stream = await self.attempt(m.may_transact(host), start_stream(self.user_ids[host], "Back"))
        if stream is not None:
            self.streams[host] = stream.id
            m.live[host] = True

    async def freeze_or_unfreeze(self, user: int) -> None:
        frozen = not self.model.frozen[user]
        record = await set_frozen(
            self.user_ids[user], frozen=frozen, reason="stateful", actor=MODERATOR
        )
        assert record.frozen == frozen
        self.model.frozen[user] = frozen
        if frozen:  # a freeze ends the user's live stream
            self.model.live[user] = False

    # Payouts -------------------------------------------------------------------------

    @rule(creator=people, amount=payout_amounts, key=keys)
    @step
    async def request(self, creator: int, amount: int | str, key: int | None) -> None:
        m = self.model
        if amount == "settled":
            diamonds = max(m.diamonds[creator], 0)
        elif amount == "shown":
            diamonds = max(m.shown_diamonds(creator), 0)
        else:
            assert isinstance(amount, int)
            diamonds = amount
        await self.request_payout(creator, diamonds, self.key_for(creator, key))

    async def request_payout(self, creator: int, diamonds: int, key: str) -> None:
        m = self.model
        request = ("payout", diamonds)
        outcome = predict(
            lambda: m.earlier(creator, key, request),
            lambda: refuse_if(diamonds <= 0, ErrorCode.INVALID_INPUT),
            lambda: refuse_if(
                diamonds < ECONOMY.minimum_payout_diamonds, ErrorCode.BELOW_PAYOUT_MINIMUM
            ),
            lambda: m.may_transact(creator),
            lambda: refuse_if(
                m.payouts_today[creator] + diamonds > ECONOMY.maximum_daily_payout_diamonds,
                ErrorCode.PAYOUT_LIMIT_REACHED,
            ),
            lambda: refuse_if(m.diamonds[creator] < diamonds, ErrorCode.INSUFFICIENT_FUNDS),
        )
        payout = await self.attempt(
            outcome, request_payout(self.user_ids[creator], diamonds, key, economy=ECONOMY)
        )
        if payout is None:
            return
        if isinstance(outcome, Keyed):
            assert payout.id == outcome.result, "a replayed request is the first payout"
            assert payout.status is m.payouts[payout.id].status
            return
        assert (payout.diamonds, payout.status) == (diamonds, PayoutStatus.PENDING)
        m.move(("diamonds", creator), AccountCode.PAYOUT_HOLD, diamonds)
        m.payouts_today[creator] += diamonds
        m.payouts[payout.id] = Held(creator, diamonds)
        m.remember(Done("payout", creator, key, (diamonds,)), request, payout.id)

    @precondition(lambda self: self.model.payouts)
    @rule(pick=picks)
    @step
    async def approve(self, pick: int) -> None:
        """Finance approves; the sandbox provider pays; the hold moves to paid, once."""
        m = self.model
        payout_id = picked(m.payouts, pick)
        payout = m.payouts[payout_id]
        outcome = predict(
            lambda: refuse_if(m.frozen[payout.creator], ErrorCode.ACCOUNT_FROZEN),
            lambda: refuse_if(payout.status is not PayoutStatus.PENDING, ErrorCode.INVALID_INPUT),
        )
        record = await self.attempt(
            outcome, approve_payout(payout_id, FINANCE, provider=SandboxPayoutProvider())
        )
        if record is None:
            return
        assert record.status is PayoutStatus.PAID
        assert (record.payment_reference or "").startswith("sandbox_")
        payout.status = PayoutStatus.PAID
        m.move(AccountCode.PAYOUT_HOLD, AccountCode.PAYOUTS_PAID, payout.diamonds)

    @precondition(lambda self: self.model.payouts)
    @rule(pick=picks)
    @step
    async def reject(self, pick: int) -> None:
        m = self.model
        payout_id = picked(m.payouts, pick)
        payout = m.payouts[payout_id]
        record = await self.attempt(
            refuse_if(payout.status is not PayoutStatus.PENDING, ErrorCode.INVALID_INPUT),
            reject_payout(payout_id, FINANCE, "Not this time."),
        )
        if record is None:
            return
        assert record.status is PayoutStatus.REJECTED
        payout.status = PayoutStatus.REJECTED
        m.release(payout)

    @precondition(lambda self: self.model.payouts)
    @rule(pick=picks, by=st.one_of(st.none(), adults))
    @step
    async def cancel(self, pick: int, by: int | None) -> None:
        """The creator cancels (``by`` None), or someone else tries to (NOT_FOUND)."""
        m = self.model
        payout_id = picked(m.payouts, pick)
        payout = m.payouts[payout_id]
        user = payout.creator if by is None else by
        was = payout.status
        outcome = predict(
            lambda: refuse_if(user != payout.creator, ErrorCode.NOT_FOUND),
            lambda: refuse_if(
                was not in (PayoutStatus.PENDING, PayoutStatus.CANCELLED),
                ErrorCode.PAYOUT_NOT_CANCELLABLE,
            ),
        )
        record = await self.attempt(outcome, cancel_payout(self.user_ids[user], payout_id))
        if record is None:
            return
        assert record.status is PayoutStatus.CANCELLED
        if was is PayoutStatus.PENDING:  # cancelling a cancelled payout changes nothing
            payout.status = PayoutStatus.CANCELLED
            m.release(payout)

    # Offers --------------------------------------------------------------------------

    @rule(user=people, offer=offers, key=keys)
    @step
    async def redeem(self, user: int, offer: int, key: int | None) -> None:
        await self.redeem_offer(user, offer, self.key_for(user, key))

    async def redeem_offer(self, user: int, offer: int, key: str) -> None:
        m = self.model
        spec = OFFERS[offer]
        request = ("redeem", offer)
        outcome = predict(
            lambda: m.earlier(user, key, request),
            lambda: m.may_transact(user),
            lambda: refuse_if(not spec.active, ErrorCode.OFFER_UNAVAILABLE),
            lambda: refuse_if(
                m.redeemed[(user, offer)] >= spec.per_user_limit, ErrorCode.OFFER_LIMIT_REACHED
            ),
            lambda: refuse_if(m.codes_left[offer] == 0, ErrorCode.OFFER_UNAVAILABLE),
            lambda: refuse_if(
                m.spent_today[user] + spec.coin_cost > PLATFORM.new_account_daily_coins,
                ErrorCode.SPENDING_LIMIT_REACHED,
            ),
            lambda: refuse_if(m.coins[user] < spec.coin_cost, ErrorCode.INSUFFICIENT_FUNDS),
        )
        redeemed = await self.attempt(
            outcome,
            redeem_offer(
                user_id=self.user_ids[user],
                offer_id=self.offers[offer],
                idempotency_key=key,
                platform=PLATFORM,
            ),
        )
        if redeemed is None:
            return
        assert redeemed.replayed == isinstance(outcome, Keyed)
        if isinstance(outcome, Keyed):
            assert redeemed.redemption.id == outcome.result, "a replay hands out the same code"
            return
        code = redeemed.redemption.code
        assert code.startswith(f"CODE-{self.offers[offer]}-"), "a code from this offer's pool"
        assert code not in self.codes_handed_out, "a code is handed out once"
        self.codes_handed_out.add(code)
        assert redeemed.redemption.coins == spec.coin_cost
        m.move(("coins", user), AccountCode.PARTNER_REDEMPTIONS, spec.coin_cost)
        m.spent_today[user] += spec.coin_cost
        m.codes_left[offer] -= 1
        m.redeemed[(user, offer)] += 1
        m.remember(Done("redeem", user, key, (offer,)), request, redeemed.redemption.id)

    # Replays -------------------------------------------------------------------------

    @precondition(lambda self: self.model.done)
    @rule(pick=picks)
    @step
    async def replay(self, pick: int) -> None:
        """Send a step that moved value again, same key and request: it moves nothing."""
        done = picked(self.model.done, pick)
        again = {
            "purchase": self.purchase,
            "gift": self.send,
            "payout": self.request_payout,
            "redeem": self.redeem_offer,
        }[done.kind]
        await again(done.user, *done.args, done.key)

    # After every step ----------------------------------------------------------------

    @invariant()
    def the_ledger_holds_and_matches_the_model(self) -> None:
        m = self.model
        report, balances, queued, system, held = self.run(self.observe())
        assert report.ok, "ledger invariants broken:\n" + "\n".join(map(str, report.breaches))
        moved = {code: system[code] - self.baseline[code] for code in SYSTEM_CODES}
        coins = [balances[uid][Currency.COIN] for uid in self.user_ids]
        diamonds = [balances[uid][Currency.DIAMOND] for uid in self.user_ids]
        # This run's coins: those issued (net of clawbacks) are held, sunk or redeemed; its
        # diamonds: those gifts issued (net of reversals) are held, on hold or paid out.
        assert -moved[AccountCode.COIN_ISSUANCE] == (
            sum(coins) + moved[AccountCode.COIN_SINK] + moved[AccountCode.PARTNER_REDEMPTIONS]
        )
        assert -moved[AccountCode.DIAMOND_ISSUANCE] == (
            sum(diamonds) + moved[AccountCode.PAYOUT_HOLD] + moved[AccountCode.PAYOUTS_PAID]
        )
        assert coins == m.coins, f"coins {coins}, the model says {m.coins}"
        assert diamonds == m.diamonds, f"diamonds {diamonds}, the model says {m.diamonds}"
        shown = [diamonds[i] + queued[uid] for i, uid in enumerate(self.user_ids)]
        assert shown == [m.shown_diamonds(user) for user in range(PEOPLE)], "queued diamonds"
        assert moved == m.system, f"system accounts moved {moved}, the model says {m.system}"
        open_payouts = [0] * PEOPLE
        for payout in m.payouts.values():
            if payout.status in HELD_STATUSES:
                open_payouts[payout.creator] += payout.diamonds
        assert [held[uid] for uid in self.user_ids] == open_payouts
        for user, balance in enumerate(coins):  # only a clawback takes coins below zero
            assert balance >= 0 or any(p.refunded and p.user == user for p in m.purchases.values())

    async def observe(
        self,
    ) -> tuple[Report, dict, dict[int, int], dict[AccountCode, int], dict[int, int]]:
        """What the invariant compares (no transaction around it: that costs more than it reads)."""
        return (
            await verify_all(),
            await user_balances(self.user_ids),
            await queued_diamonds(self.user_ids),
            await system_balances(),
            await held_diamonds(self.user_ids),
        )


# A refund's tracing reverses the gifts its coins paid for while they mature; with no
# maturation window it reverses none, so the model (which does not follow it) stays exact.
NO_WINDOW = Settings(env="test", economy=ECONOMY)


@pytest.mark.usefixtures("db")
def test_random_operations_keep_the_ledger_and_the_model_in_step() -> None:
    with subscribed(NO_WINDOW):
        run_state_machine_as_test(
            LedgerMachine,
            settings=settings(
                max_examples=RUNS,
                stateful_step_count=STEPS,
                phases=PHASES,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow],
            ),
        )

"""Each fraud rule triggers on its pattern and stays quiet just below it."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest

from app.core.clock import set_clock
from app.core.events import bus
from app.fraud import rules
from app.fraud import service as fraud
from app.fraud.codes import FlagStatus, FraudRule
from app.fraud.tables import FraudFlag
from app.gifts import service as gifts
from app.gifts.service import GiftSent
from app.payouts import service as payouts
from app.payouts.codes import PayoutStatus
from app.settings import EconomySettings, FraudSettings, PayoutSettings, Settings, SpendingSettings
from app.streams.service import StreamRecord
from app.users.service import UserRecord
from app.users.tables import User
from tests.factories import make_gift, make_stream, make_user, settled, subscribed

pytestmark = pytest.mark.usefixtures("db")

RULES = FraudSettings(
    young_account_days=7,
    young_account_hourly_coins=100,
    circular_min_coins=500,
    concentration_percent=80,
    concentration_min_diamonds=500,
    swarm_min_senders=3,
)
START = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
_keys = itertools.count(1)


@pytest.fixture(autouse=True)
def _fixed_clock() -> None:
    set_clock(lambda: START)


def at(moment: datetime) -> None:
    set_clock(lambda: moment)


async def age(user: UserRecord, days: int) -> None:
    await User.update({User.created_at: START - timedelta(days=days)}).where(User.id == user.id)


@contextmanager
def rules_missed() -> Iterator[None]:
    """As if the process died between a gift's commit and its rules: nobody hears it."""

    async def nobody(event: GiftSent) -> None:
        return None

    unsubscribe = bus.subscribe(GiftSent, nobody, name="fraud.gift")
    try:
        yield
    finally:
        unsubscribe()


async def gift(
    sender: UserRecord, stream: StreamRecord, coins: int, *, fraud: FraudSettings | None = RULES
) -> None:
    item = await make_gift(coins=coins)
    with subscribed(Settings(env="test", fraud=fraud)) if fraud else rules_missed():
        await gifts.send_gift(
            sender_id=sender.id,
            stream_id=stream.id,
            gift_id=item.id,
            quantity=1,
            idempotency_key=f"rule-{next(_keys)}",
            platform=SpendingSettings(),
        )


async def flags(rule: FraudRule) -> list[dict]:
    return await FraudFlag.select().where(FraudFlag.rule == rule.value).order_by(FraudFlag.id)


# 1. Young account spending fast ---------------------------------------------------------


async def test_a_week_old_account_spending_over_the_hourly_threshold_is_flagged() -> None:
    newcomer = await make_user(coins=1_000)
    stream = await make_stream()

    await gift(newcomer, stream, 60)
    assert await flags(FraudRule.YOUNG_ACCOUNT_SPENDING) == []
    at(START + timedelta(minutes=30))
    await gift(newcomer, stream, 60)

    [flag] = await flags(FraudRule.YOUNG_ACCOUNT_SPENDING)
    assert flag["subject_user_id"] == newcomer.id
    assert flag["status"] == FlagStatus.OPEN.value
    record = await fraud.get_flag(flag["id"])
    assert record.evidence["coins_last_hour"] == 120
    assert record.evidence["threshold_coins"] == 100


async def test_old_accounts_and_spending_spread_over_hours_are_not_flagged() -> None:
    veteran = await make_user(coins=1_000)
    await age(veteran, 8)
    newcomer = await make_user(coins=1_000)
    stream = await make_stream()

    await gift(veteran, stream, 300)
    await gift(newcomer, stream, 60)
    at(START + timedelta(minutes=61))
    await gift(newcomer, stream, 60)
    await gift(newcomer, stream, 40)  # 100 in the last hour: not more than the threshold

    assert await flags(FraudRule.YOUNG_ACCOUNT_SPENDING) == []


# 2. Circular gifting --------------------------------------------------------------------


async def test_two_users_gifting_each_other_over_the_threshold_are_both_flagged() -> None:
    alice, bob = await make_user(coins=2_000), await make_user(coins=2_000)
    await age(alice, 30)
    await age(bob, 30)
    alice_live, bob_live = await make_stream(alice), await make_stream(bob)

    await gift(alice, bob_live, 600)
    at(START + timedelta(hours=23))
    await gift(bob, alice_live, 501)

    found = await flags(FraudRule.CIRCULAR_GIFTING)
    assert {(f["subject_user_id"], f["pattern_key"]) for f in found} == {
        (alice.id, str(bob.id)),
        (bob.id, str(alice.id)),
    }
    # Once more: still one open flag each.
    await gift(bob, alice_live, 600)
    assert len(await flags(FraudRule.CIRCULAR_GIFTING)) == 2


@pytest.mark.parametrize("case", ["one side below", "over a day apart"])
async def test_circular_gifting_below_the_threshold_or_window_is_not_flagged(case: str) -> None:
    alice, bob = await make_user(coins=2_000), await make_user(coins=2_000)
    await age(alice, 30)
    await age(bob, 30)
    alice_live, bob_live = await make_stream(alice), await make_stream(bob)

    await gift(alice, bob_live, 600)
    if case == "one side below":
        await gift(bob, alice_live, 500)
    else:
        at(START + timedelta(hours=24, seconds=1))
        await gift(bob, alice_live, 600)

    assert await flags(FraudRule.CIRCULAR_GIFTING) == []


# 3. Concentration before a payout -------------------------------------------------------

# Diamonds payable at once: these tests are about the rules, not about maturing earnings.
ECONOMY = EconomySettings(minimum_payout_diamonds=100, earnings_maturation_days=0)
AUTO_APPROVING = Settings(
    env="test",
    fraud=RULES,
    payouts=PayoutSettings(auto_approve=True, auto_approve_min_account_age_days=0),
)


async def creator_gifted(top_coins: int, other_coins: int) -> UserRecord:
    creator, whale, fan = (
        await make_user(),
        await make_user(coins=5_000),
        await make_user(coins=5_000),
    )
    for user in (creator, whale, fan):
        await age(user, 30)
    stream = await make_stream(creator)
    await gift(whale, stream, top_coins)
    await gift(fan, stream, other_coins)
    await settled()
    return creator


async def test_most_diamonds_from_one_sender_then_a_payout_is_flagged_and_held() -> None:
    creator = await creator_gifted(1_700, 300)  # 850 of 1,000 diamonds from one sender
    assert await flags(FraudRule.CONCENTRATION_BEFORE_PAYOUT) == []  # no payout yet

    with subscribed(AUTO_APPROVING):
        payout = await payouts.request_payout(creator.id, 500, "conc-1", economy=ECONOMY)

    [flag] = await flags(FraudRule.CONCENTRATION_BEFORE_PAYOUT)
    assert flag["subject_user_id"] == creator.id
    record = await fraud.get_flag(flag["id"])
    assert record.evidence["share_percent"] == 85.0
    assert record.evidence["payout_id"] == payout.id
    # The open flag kept the payout from auto-approval: it waits for review.
    assert payout.status is PayoutStatus.PENDING


async def test_a_spread_of_senders_lets_the_payout_through() -> None:
    creator = await creator_gifted(1_600, 400)  # exactly 80%: not more than the threshold

    with subscribed(AUTO_APPROVING):
        payout = await payouts.request_payout(creator.id, 500, "conc-2", economy=ECONOMY)

    assert await flags(FraudRule.CONCENTRATION_BEFORE_PAYOUT) == []
    assert payout.status is PayoutStatus.PAID


# 5. Many new accounts gifting one creator -----------------------------------------------


async def test_new_accounts_swarming_one_creator_within_an_hour_flag_the_creator() -> None:
    creator = await make_user()
    await age(creator, 30)
    stream = await make_stream(creator)
    for minute in (0, 20, 59):
        at(START + timedelta(minutes=minute))
        await gift(await make_user(coins=10), stream, 1)

    [flag] = await flags(FraudRule.NEW_ACCOUNT_SWARM)
    assert flag["subject_user_id"] == creator.id
    assert (await fraud.get_flag(flag["id"])).evidence["new_senders"] == 3


async def test_old_accounts_or_a_slow_trickle_do_not_look_like_a_swarm() -> None:
    creator = await make_user()
    stream = await make_stream(creator)
    regular = await make_user(coins=10)
    await age(regular, 30)
    await gift(await make_user(coins=10), stream, 1)
    await gift(regular, stream, 1)
    at(START + timedelta(minutes=61))
    await gift(await make_user(coins=10), stream, 1)
    await gift(await make_user(coins=10), stream, 1)

    assert await flags(FraudRule.NEW_ACCOUNT_SWARM) == []


# Running the rules ----------------------------------------------------------------------


async def test_scan_finds_what_the_gift_path_did_not_check_and_is_repeatable() -> None:
    alice, bob = await make_user(coins=2_000), await make_user(coins=2_000)
    alice_live, bob_live = await make_stream(alice), await make_stream(bob)
    await gift(alice, bob_live, 600, fraud=None)
    await gift(bob, alice_live, 600, fraud=None)
    assert await FraudFlag.count() == 0

    first = await rules.scan(RULES)
    second = await rules.scan(RULES)

    # Circular for both, and both are young accounts that spent over 100 in the hour.
    assert first.flags_raised == 4
    assert second.flags_raised == 0
    assert await FraudFlag.count() == 4
    assert {f["rule"] for f in await FraudFlag.select()} == {
        FraudRule.CIRCULAR_GIFTING.value,
        FraudRule.YOUNG_ACCOUNT_SPENDING.value,
    }


async def test_a_failing_rule_is_logged_and_never_fails_the_gift(monkeypatch) -> None:
    async def broken(*args: object) -> bool:
        raise RuntimeError("rule bug")

    monkeypatch.setattr(rules, "check_circular_gifting", broken)
    newcomer = await make_user(coins=1_000)
    stream = await make_stream()

    await gift(newcomer, stream, 200)

    # The gift went through, and the rules after the broken one still ran.
    assert len(await flags(FraudRule.YOUNG_ACCOUNT_SPENDING)) == 1


def test_coins_fraud_scan_runs_from_the_command_line(
    db, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from app.cli import main
    from tests.conftest import run_sync

    async def setup() -> None:
        alice, bob = await make_user(coins=5_000), await make_user(coins=5_000)
        alice_live, bob_live = await make_stream(alice), await make_stream(bob)
        await gift(alice, bob_live, 1_500, fraud=None)
        await gift(bob, alice_live, 1_500, fraud=None)

    run_sync(setup())
    monkeypatch.setenv("COINS_DATABASE_URL", db.url)
    monkeypatch.setenv("COINS_FRAUD_YOUNG_ACCOUNT_HOURLY_COINS", "100000")

    assert main(["fraud", "scan"]) == 0
    assert capsys.readouterr().out.strip().endswith("2 new flag(s)")
    assert main(["fraud", "scan"]) == 0
    assert capsys.readouterr().out.strip().endswith("0 new flag(s)")


async def test_a_batch_of_gifts_is_screened_for_circles_in_a_fixed_number_of_statements(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.statements import count_statements

    hosts = [await make_user(coins=2_000) for _ in range(3)]
    senders = [await make_user(coins=2_000) for _ in range(12)]
    for user in hosts + senders:
        await age(user, 30)
    streams = [await make_stream(host) for host in hosts]
    back_stream = await make_stream(senders[0])
    for n, sender in enumerate(senders):
        await gift(sender, streams[n % 3], 600, fraud=None)
    await gift(hosts[0], back_stream, 700, fraud=None)  # hosts[0] gifted senders[0] back
    old = START - timedelta(days=30)
    batch = [rules.GiftToCheck(s.id, streams[n % 3].host_id, old) for n, s in enumerate(senders)]
    statements = count_statements(monkeypatch)

    counts = []
    for size in (2, 11):
        statements.clear()
        await rules.after_gifts(batch[1 : 1 + size], RULES)  # senders[0] left out: no circle
        counts.append(len(statements))
    await rules.after_gifts(batch, RULES)

    assert counts[0] == counts[1] == 1
    found = await flags(FraudRule.CIRCULAR_GIFTING)
    assert {(f["subject_user_id"], f["pattern_key"]) for f in found} == {
        (senders[0].id, str(hosts[0].id)),
        (hosts[0].id, str(senders[0].id)),
    }


async def test_the_young_account_rule_sums_every_gift_and_keeps_the_newest_as_evidence() -> None:
    newcomer = await make_user(coins=5_000)
    stream = await make_stream()
    for _ in range(rules.MAX_EVIDENCE_EVENTS + 5):
        await gift(newcomer, stream, 4, fraud=None)  # 25 gifts of 4 coins: 100, not over

    await gift(newcomer, stream, 1)  # 101 coins in the hour: over the threshold of 100

    [flag] = await flags(FraudRule.YOUNG_ACCOUNT_SPENDING)
    evidence = (await fraud.get_flag(flag["id"])).evidence
    assert evidence["coins_last_hour"] == 101
    assert len(evidence["gift_event_ids"]) == rules.MAX_EVIDENCE_EVENTS
    assert evidence["gift_event_ids"] == sorted(evidence["gift_event_ids"], reverse=True)

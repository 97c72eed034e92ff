"""After every scenario: is all the money there?

- ``ledger verify`` (``app.ledger.verify``): balances, zero sums, chains, operations.
- Coins sent = gift events: the viewers' coins went down by exactly the coins of the gift
  events written since the scenario began, and every send the load generator saw succeed
  has its event (events may exceed successes only by requests that failed at the client,
  e.g. a timeout after the commit).
- Diamonds by the published share: each event's diamonds are its quantity times the
  gift's coin cost times ``economy.creatorShare``, rounded half up; the creators' diamond
  balances went up by exactly the events' diamonds.
- Stream totals = gift events: each stream's ``coins_received`` and ``gift_count`` equal
  the sums of its events.
- The floor: its balances still sum to what they started at, each account's balance is its
  opening balance plus credits minus debits, one transfer row per successful request.

Diamonds, stream totals (even gift events) may be written after the send's commit (a
settlement queue that lags by up to 50 ms): the checks of a scenario are retried together
until they all hold or ``SETTLE_S`` has passed, so a lag is never mistaken for a loss,
and a loss is never hidden by one (it outlasts any lag).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from fractions import Fraction

import asyncpg

SETTLE_S = 5.0


class MoneyMissing(AssertionError):
    """A check failed: the benchmark stops and exits non-zero."""


@dataclass(frozen=True)
class State:
    last_event_id: int
    viewer_coins: int
    creator_diamonds: int
    # The floor's tables exist only in the benchmark's database.
    floor_balance: int | None = None
    floor_transfers: int | None = None


def diamonds_half_up(coins: int, share: Fraction) -> int:
    """Coins times the creator share, rounded half up (in the creator's favour)."""
    exact = Fraction(coins) * share
    whole, remainder = divmod(exact.numerator, exact.denominator)
    return whole + (1 if 2 * remainder >= exact.denominator else 0)


async def state(
    connection: asyncpg.Connection, viewers: list[int], creators: list[int], *, floor: bool = True
) -> State:
    floor_sums = (
        "(SELECT coalesce(sum(balance), 0) FROM bench_floor_account) AS floor_balance, "
        "(SELECT count(*) FROM bench_floor_transfer) AS floor_transfers, "
        if floor
        else ""
    )
    row = await connection.fetchrow(
        f"SELECT {floor_sums}"  # noqa: S608 (one of two fixed texts)
        "(SELECT coalesce(max(id), 0) FROM gift_event) AS last_event_id, "
        "(SELECT coalesce(sum(balance), 0) FROM ledger_account "
        " WHERE currency = 'COIN' AND user_id = ANY($1::bigint[])) AS viewer_coins, "
        "(SELECT coalesce(sum(balance), 0) FROM ledger_account "
        " WHERE currency = 'DIAMOND' AND user_id = ANY($2::bigint[])) AS creator_diamonds",
        viewers,
        creators,
    )
    return State(**{key: int(row[key]) for key in row.keys()})  # noqa: SIM118 (a Record)


async def _settled(check: Callable[[], Awaitable[str | None]], settle_s: float) -> None:
    """Run ``check`` until it has no complaint, for at most ``settle_s``: whatever is
    credited after the send's commit has that long to arrive."""
    deadline = time.monotonic() + settle_s
    while True:
        complaint = await check()
        if complaint is None:
            return
        if time.monotonic() > deadline:
            raise MoneyMissing(complaint)
        await asyncio.sleep(0.05)


async def check_sends(
    connection: asyncpg.Connection,
    before: State,
    *,
    viewers: list[int],
    creators: list[int],
    share: Fraction,
    succeeded: int,
    failed: int,
    settle_s: float = SETTLE_S,
) -> dict[str, int]:
    """The checks of a scenario that sent gifts; returns what the new events add up to."""
    found: dict[str, int] = {}

    async def complaint() -> str | None:
        events = await connection.fetchrow(
            "SELECT count(*) AS n, coalesce(sum(coins), 0) AS coins, "
            "coalesce(sum(diamonds), 0) AS diamonds FROM gift_event WHERE id > $1",
            before.last_event_id,
        )
        count, coins, diamonds = int(events["n"]), int(events["coins"]), int(events["diamonds"])
        found.update(events=count, coins=coins, diamonds=diamonds)
        if not succeeded <= count <= succeeded + failed:
            return f"{succeeded} sends succeeded and {failed} failed, but {count} gift events exist"
        priced = await connection.fetch(
            "SELECT coins / quantity AS unit_coins, sum(quantity) AS quantity, "
            "sum(diamonds) AS diamonds FROM gift_event WHERE id > $1 GROUP BY 1",
            before.last_event_id,
        )
        for row in priced:
            expected = int(row["quantity"]) * diamonds_half_up(int(row["unit_coins"]), share)
            if int(row["diamonds"]) != expected:
                return (
                    f"gifts of {row['unit_coins']} coins earned {row['diamonds']} diamonds, "
                    f"not {expected} at the published share {share}"
                )
        after = await state(connection, viewers, creators, floor=False)
        spent = before.viewer_coins - after.viewer_coins
        if spent != coins:
            return f"viewers spent {spent} coins but the gift events add up to {coins}"
        credited = after.creator_diamonds - before.creator_diamonds
        if credited != diamonds:
            return f"creators were credited {credited} diamonds, the gift events say {diamonds}"
        wrong = await connection.fetch(
            "SELECT s.id, s.coins_received, s.gift_count, coalesce(e.coins, 0) AS coins, "
            "coalesce(e.quantity, 0) AS quantity FROM live_stream s LEFT JOIN ("
            " SELECT stream_id, sum(coins) AS coins, sum(quantity) AS quantity "
            " FROM gift_event GROUP BY stream_id) e ON e.stream_id = s.id "
            "WHERE s.coins_received <> coalesce(e.coins, 0) "
            "OR s.gift_count <> coalesce(e.quantity, 0) LIMIT 3"
        )
        if wrong:
            return "stream totals differ from their gift events: " + "; ".join(
                f"stream {r['id']} has {r['coins_received']} coins/{r['gift_count']} gifts, "
                f"events {r['coins']}/{r['quantity']}"
                for r in wrong
            )
        return None

    await _settled(complaint, settle_s)
    return dict(found)


async def check_nothing_moved(
    connection: asyncpg.Connection, before: State, viewers: list[int], creators: list[int]
) -> None:
    """A read scenario wrote no gift and moved no coin."""
    after = await state(connection, viewers, creators)
    if after != before:
        raise MoneyMissing(f"a read-only scenario changed the books: {before} -> {after}")


async def check_floor(
    connection: asyncpg.Connection, before: State, *, succeeded: int, failed: int
) -> None:
    after = await state(connection, [], [])
    if after.floor_balance != before.floor_balance:
        raise MoneyMissing(
            f"the floor's balances sum to {after.floor_balance}, not {before.floor_balance}"
        )
    written = after.floor_transfers - before.floor_transfers
    if not succeeded <= written <= succeeded + failed:
        raise MoneyMissing(f"{succeeded} floor transfers succeeded but {written} rows exist")
    wrong = await connection.fetchval(
        "WITH moved AS (SELECT account_id, sum(delta) AS delta FROM ("
        " SELECT credit_account_id AS account_id, amount AS delta FROM bench_floor_transfer"
        " UNION ALL SELECT debit_account_id, -amount FROM bench_floor_transfer) m"
        " GROUP BY account_id) "
        "SELECT count(*) FROM bench_floor_account a LEFT JOIN moved ON moved.account_id = a.id "
        "WHERE a.balance <> a.initial_balance + coalesce(moved.delta, 0)"
    )
    if wrong:
        raise MoneyMissing(f"{wrong} floor accounts differ from their transfers")


async def verify_ledger() -> None:
    """``coins ledger verify``'s own checks, in this process."""
    from app.integrity import verify_all

    report = await verify_all()
    if not report.ok:
        shown = "; ".join(str(b) for b in report.breaches[:5])
        raise MoneyMissing(f"ledger verify: {len(report.breaches)} breach(es): {shown}")

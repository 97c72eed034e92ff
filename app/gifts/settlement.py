"""Settling gifts: a batch of queued credits becomes one transfer per host.

A send queues its diamonds and stream totals (``gift_credit``) instead of locking the host's
diamond account and the stream's row, which every gift to a popular creator would wait for.
The settler takes a batch (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several app
processes share the work), and in one transaction:

- posts one GIFT_RECEIVED transfer per host, from a diamond-issuance shard, whose hash
  covers a digest of the batch's events for that host (``event_digest``): the host's chain
  grows once per batch and every gift stays tamper-evident;
- records which events each transfer settled (``gift_settlement``);
- adds the batch's coins and gifts to each stream's totals in one statement, and counts
  them into the streams' active goals (``app.streams.goals``: only streams of the batch
  that have one, their rows locked by the batch, never by a gift).

Guarantees, checked by ``reconcile``: every gift event is queued, settled by exactly one
transfer whose amount and digest match its events, or withdrawn by a reversal before it
was settled. Reads that must be exact (a wallet's diamonds, a stream's coins) add what is
still queued; a payout only ever moves settled diamonds.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

import structlog
from piccolo.query.functions.aggregate import Sum

from app import ledger
from app.core.clock import as_utc, utcnow
from app.core.database import DatabaseUnavailable, is_sqlite
from app.core.transactions import in_snapshot, in_transaction
from app.gifts.tables import GiftCredit, GiftEvent, GiftSettlement
from app.ledger import AccountCode, Currency, TransferKind
from app.ledger.verify import Balances, Breach
from app.streams import goals as stream_goals
from app.streams import service as streams
from app.streams.goals import CountedGift, GoalRecord
from app.streams.service import StreamRecord

log = structlog.get_logger(__name__)

OPERATION_KIND = "SETTLE_GIFTS"
BATCH_SIZE = 2_000
_CLAIM = (
    "DELETE FROM gift_credit WHERE id IN (SELECT id FROM gift_credit ORDER BY id LIMIT {}{}) "
    "RETURNING event_id, host_id, stream_id, coins, quantity, diamonds"
)


_LOOK = "SELECT EXISTS (SELECT 1 FROM gift_credit) AS queued"


def event_digest(events: Sequence[tuple[int, int]]) -> str:
    """SHA-256 of ``id:diamonds`` of each (event id, diamonds), in id order."""
    material = "|".join(f"{event_id}:{diamonds}" for event_id, diamonds in sorted(events))
    return hashlib.sha256(material.encode()).hexdigest()


async def queue_credit(
    *, event_id: int, host_id: int, stream_id: int, coins: int, quantity: int, diamonds: int
) -> None:
    """Queue a sent gift's diamonds and stream totals (in the send's transaction)."""
    await GiftCredit.insert(
        GiftCredit(
            event_id=event_id,
            host_id=host_id,
            stream_id=stream_id,
            coins=coins,
            quantity=quantity,
            diamonds=diamonds,
            created_at=utcnow(),
        )
    )


async def settle(limit: int = BATCH_SIZE) -> int:
    """Settle up to ``limit`` queued gifts in one transaction; returns how many."""
    # A look at an empty queue costs one read, not a write transaction: ``coins settle``
    # looks 50 times a second, and on SQLite a write transaction locks out every writer.
    if not (await GiftCredit.raw(_LOOK))[0]["queued"]:
        return 0

    async def work() -> int:
        skip_locked = "" if is_sqlite() else " FOR UPDATE SKIP LOCKED"
        claimed = await GiftCredit.raw(_CLAIM.format("{}", skip_locked), limit)
        if not claimed:
            return 0
        by_host: dict[int, list[tuple[int, int]]] = defaultdict(list)
        totals: dict[int, tuple[int, int]] = {}
        for row in claimed:
            by_host[row["host_id"]].append((row["event_id"], row["diamonds"]))
            coins, quantity = totals.get(row["stream_id"], (0, 0))
            totals[row["stream_id"]] = (coins + row["coins"], quantity + row["quantity"])
        hosts = sorted(by_host)
        accounts = await ledger.user_account_ids(hosts)
        legs = [
            ledger.Leg(
                TransferKind.GIFT_RECEIVED,
                await ledger.system_account_id(AccountCode.DIAMOND_ISSUANCE, host),
                accounts[host][Currency.DIAMOND],
                sum(diamonds for _, diamonds in by_host[host]),
                f"{len(by_host[host])} gift(s) received",
                detail=event_digest(by_host[host]),
            )
            for host in hosts
        ]

        async def build(operation: ledger.OpenOperation) -> ledger.Plan[None]:
            return ledger.Plan(legs, f"{len(claimed)} gift(s)", None)

        outcome = await ledger.run_operation(OPERATION_KIND, user_id=None, build=build)
        await _record_settlements(
            [
                (posted.id, host, sorted(e for e, _ in by_host[host]), posted.amount, leg.detail)
                for host, leg, posted in zip(hosts, legs, outcome.transfers, strict=True)
            ]
        )
        await streams.add_gift_totals(totals)
        await _advance_goals(claimed)
        return len(claimed)

    return await in_transaction(work)


# One array per column on PostgreSQL, as the ledger's transfers: one statement text for
# every batch size, no Table object per row.
_INSERT_SETTLEMENTS = (
    "INSERT INTO gift_settlement (transfer_id, host_id, event_ids, diamonds, digest, "
    "settled_at) SELECT transfer_id, host_id, event_ids, diamonds, digest, {}::timestamptz "
    "FROM unnest({}::bigint[], {}::bigint[], {}::text[], {}::bigint[], {}::text[]) "
    "AS t(transfer_id, host_id, event_ids, diamonds, digest)"
)


async def _record_settlements(rows: Sequence[tuple[int, int, list[int], int, str]]) -> None:
    """(transfer id, host id, event ids, diamonds, digest) of each host's part of a batch."""
    now = utcnow()
    if is_sqlite():
        await GiftSettlement.insert(
            *(
                GiftSettlement(
                    transfer_id=transfer_id,
                    host_id=host_id,
                    event_ids=json.dumps(event_ids),
                    diamonds=diamonds,
                    digest=digest,
                    settled_at=now,
                )
                for transfer_id, host_id, event_ids, diamonds, digest in rows
            )
        )
        return
    await GiftSettlement.raw(
        _INSERT_SETTLEMENTS,
        now,
        [row[0] for row in rows],
        [row[1] for row in rows],
        [json.dumps(row[2]) for row in rows],
        [row[3] for row in rows],
        [row[4] for row in rows],
    )


async def _advance_goals(claimed: Sequence[Mapping[str, int]]) -> None:
    """Count a settling batch into its streams' active goals (in the batch's transaction)."""
    stream_ids = sorted({row["stream_id"] for row in claimed})
    goals = await stream_goals.active_goals(stream_ids, lock=True)
    if not goals:
        return
    counted = await _counted_gifts(
        "SELECT id, stream_id, gift_id, quantity, coins, created_at FROM gift_event "
        "WHERE id IN ({})",
        [row["event_id"] for row in claimed if row["stream_id"] in goals],
    )
    advanced = [stream_goals.advance(goal, counted.get(sid, ())) for sid, goal in goals.items()]
    await stream_goals.save_progress(
        new for new, old in zip(advanced, goals.values(), strict=True) if new is not old
    )


async def _counted_gifts(query: str, ids: Sequence[int]) -> dict[int, list[CountedGift]]:
    """Gift events as goals count them, by stream; ``query`` takes the ids in ``{}``."""
    found: dict[int, list[CountedGift]] = defaultdict(list)
    if not ids:
        return found
    rows = await GiftEvent.raw(query.format(", ".join("{}" for _ in ids)), *ids)
    for row in rows:
        found[row["stream_id"]].append(
            CountedGift(
                event_id=row["id"],
                gift_id=row["gift_id"],
                quantity=row["quantity"],
                coins=row["coins"],
                created_at=as_utc(row["created_at"]),
            )
        )
    return found


async def settle_all() -> int:
    """Settle until the queue is empty (tests, shutdown, the CLI); returns how many."""
    total = 0
    while settled := await settle():
        total += settled
    return total


async def withdraw(event_id: int, host_id: int) -> bool:
    """Take a still-queued gift off the queue (a reversal before settlement): its diamonds
    and stream totals are never credited. False when it was already settled."""
    rows = (
        await GiftCredit.delete()
        .where(GiftCredit.event_id == event_id)
        .returning(GiftCredit.diamonds)
    )
    if not rows:
        return False
    await GiftSettlement.insert(
        GiftSettlement(
            transfer_id=None,
            host_id=host_id,
            event_ids=json.dumps([event_id]),
            diamonds=0,
            digest=event_digest([(event_id, rows[0]["diamonds"])]),
            settled_at=utcnow(),
        )
    )
    return True


async def backlog() -> tuple[int, float]:
    """How many gifts wait to be settled, and how long the oldest has waited (seconds):
    a settler that stopped, or cannot keep up, shows here first."""
    oldest = await GiftCredit.select(GiftCredit.created_at).order_by(GiftCredit.id).first()
    if oldest is None:
        return 0, 0.0
    waited = (utcnow() - as_utc(oldest["created_at"])).total_seconds()
    return await GiftCredit.count(), max(0.0, waited)


# Exact reads -----------------------------------------------------------------------------


async def queued_diamonds(host_ids: Sequence[int]) -> dict[int, int]:
    """Diamonds each host has received and not had settled yet."""
    found = dict.fromkeys(host_ids, 0)
    if host_ids:
        rows = (
            await GiftCredit.select(GiftCredit.host_id, Sum(GiftCredit.diamonds).as_alias("d"))
            .where(GiftCredit.host_id.is_in(list(set(host_ids))))
            .group_by(GiftCredit.host_id)
        )
        for row in rows:
            found[row["host_id"]] = int(row["d"])
    return found


async def queued_stream_totals(
    stream_ids: Sequence[int] | None = None,
) -> dict[int, tuple[int, int]]:
    """(coins, gifts) each stream (every stream with any, when None) has received and not
    had settled yet."""
    found = dict.fromkeys(stream_ids or (), (0, 0))
    if stream_ids == []:
        return found
    query = GiftCredit.select(
        GiftCredit.stream_id,
        Sum(GiftCredit.coins).as_alias("coins"),
        Sum(GiftCredit.quantity).as_alias("quantity"),
    )
    if stream_ids is not None:
        query = query.where(GiftCredit.stream_id.is_in(list(set(stream_ids))))
    for row in await query.group_by(GiftCredit.stream_id):
        found[row["stream_id"]] = (int(row["coins"]), int(row["quantity"]))
    return found


async def events_settled_by(transfer_ids: Sequence[int]) -> dict[int, list[int]]:
    """The gift event ids each settlement transfer credited (creator statements)."""
    found: dict[int, list[int]] = {}
    if transfer_ids:
        rows = await GiftSettlement.select(
            GiftSettlement.transfer_id, GiftSettlement.event_ids
        ).where(GiftSettlement.transfer_id.is_in(list(set(transfer_ids))))
        for row in rows:
            found.setdefault(row["transfer_id"], []).extend(json.loads(row["event_ids"]))
    return found


# Each reads the settled figures and the queue in one snapshot: a batch settling between
# the two reads would otherwise be counted twice or not at all.


async def _exact_streams(
    read: Callable[[], Awaitable[Mapping[int, StreamRecord]]],
) -> dict[int, StreamRecord]:
    async def work() -> dict[int, StreamRecord]:
        records = await read()
        pending = await queued_stream_totals(sorted({r.id for r in records.values()}))
        return {key: streams.with_pending(record, pending) for key, record in records.items()}

    return await in_snapshot(work)


async def streams_by_ids(stream_ids: Sequence[int]) -> dict[int, StreamRecord]:
    """Streams with what is still queued counted in their totals."""
    return await _exact_streams(lambda: streams.streams_by_ids(stream_ids))


async def live_streams_of_hosts(host_ids: Sequence[int]) -> dict[int, StreamRecord]:
    return await _exact_streams(lambda: streams.live_streams_of_hosts(host_ids))


async def goals_by_stream_ids(stream_ids: Sequence[int]) -> dict[int, GoalRecord]:
    """Each stream's active goal with the gifts still queued counted in (as settling them
    will count them)."""

    async def work() -> dict[int, GoalRecord]:
        goals = await stream_goals.active_goals(stream_ids)
        queued = await _counted_gifts(
            "SELECT e.id, e.stream_id, e.gift_id, e.quantity, e.coins, e.created_at "
            "FROM gift_credit c JOIN gift_event e ON e.id = c.event_id "
            "WHERE c.stream_id IN ({})",
            sorted(goals),
        )
        return {sid: stream_goals.advance(goal, queued.get(sid, ())) for sid, goal in goals.items()}

    return await in_snapshot(work)


async def live_streams(*, limit: int, after: tuple[int, int] | None = None) -> list[StreamRecord]:
    """Live streams, most coins first, counting what is still queued (the queue is short)."""

    async def work() -> list[StreamRecord]:
        pending = await queued_stream_totals()
        return await streams.list_live(limit=limit, after=after, pending=pending)

    return await in_snapshot(work)


async def exact_balances(user_ids: Sequence[int]) -> dict[int, dict[Currency, int]]:
    """Balances per user and currency, diamonds counting gifts received and not settled yet
    (a payout still moves only settled ones)."""

    async def work() -> dict[int, dict[Currency, int]]:
        balances = await ledger.user_balances(user_ids)
        for user_id, diamonds in (await queued_diamonds(user_ids)).items():
            balances[user_id][Currency.DIAMOND] += diamonds
        return balances

    return await in_snapshot(work)


# The settler ------------------------------------------------------------------------------


@dataclass
class Settler:
    """Settles in the background of an app process, or as ``coins settle``.

    A gift sent through this process wakes it (``wake``, after the gift commits); it waits
    ``gather_s`` for more to batch, settles, and goes on while there is work. Otherwise it
    looks every ``idle_s`` for what other processes left (one that stopped mid-batch); in
    ``coins settle``, which nobody wakes, ``idle_s`` is how often it looks. Under load
    batches grow by themselves: whatever arrives while one settles is the next.
    """

    gather_s: float = 0.02
    idle_s: float = 0.25
    _task: asyncio.Task[None] | None = None
    _woken: asyncio.Event | None = None

    def start(self) -> None:
        self._woken = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="gift-settler")

    async def wake(self, _: object = None) -> None:
        if self._woken is not None:
            self._woken.set()

    async def stop(self) -> None:
        """Stop, then settle what is left, so a clean shutdown leaves nothing queued."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await settle_all()

    async def _run(self) -> None:
        assert self._woken is not None
        while True:
            try:
                settled = await settle()
            except DatabaseUnavailable as error:
                # An outage: no traceback per second of it. A claim that may have committed
                # is safe to run again, its credits are off the queue once it did.
                log.warning("gifts.settle_failed", reason=error.message)
                await asyncio.sleep(1)
                continue
            except Exception:
                log.exception("gifts.settle_failed")
                await asyncio.sleep(1)
                continue
            if settled >= BATCH_SIZE:
                continue
            self._woken.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._woken.wait(), self.idle_s)
            await asyncio.sleep(self.gather_s)


# Reconciliation (``coins ledger verify``) -------------------------------------------------


async def reconcile(balances: Balances) -> list[Breach]:
    """Every gift event queued, settled by one transfer that matches it, or withdrawn."""
    events = {
        row["id"]: (row["host_id"], row["diamonds"], row["operation_id"])
        for row in await GiftEvent.select(
            GiftEvent.id, GiftEvent.host_id, GiftEvent.diamonds, GiftEvent.operation_id
        )
    }
    queued = {row["event_id"] for row in await GiftCredit.select(GiftCredit.event_id)}
    transfers = await ledger.transfers_of_kind(TransferKind.GIFT_RECEIVED)
    seen: dict[int, str] = {event_id: "queued" for event_id in queued}
    breaches: list[Breach] = []
    for row in await GiftSettlement.select().order_by(GiftSettlement.id):
        ids = json.loads(row["event_ids"])
        what = f"settlement {row['id']}"
        for event_id in ids:
            if event_id in seen:
                breaches.append(
                    Breach("settlement", f"gift event {event_id} is in {seen[event_id]} and {what}")
                )
            seen[event_id] = what
        known = [(e, events[e][1]) for e in ids if e in events]
        if len(known) != len(ids) or any(events[e][0] != row["host_id"] for e, _ in known):
            breaches.append(Breach("settlement", f"{what} names events not sent to its host"))
            continue
        # Gifts sent before settlement existed name their own operation's transfer instead.
        legacy = row["digest"] == "" and len(ids) == 1
        if not legacy and event_digest(known) != row["digest"]:
            breaches.append(Breach("settlement", f"{what} does not match its events' digest"))
        if row["transfer_id"] is None:
            continue
        posted = transfers.get(row["transfer_id"])
        if (
            posted is None
            or posted.detail != row["digest"]
            or posted.amount != sum(d for _, d in known)
            or (legacy and posted.operation_id != events[ids[0]][2])
        ):
            breaches.append(
                Breach("settlement", f"{what} and transfer {row['transfer_id']} disagree")
            )
    for event_id in sorted(events.keys() - seen.keys()):
        breaches.append(
            Breach("settlement", f"gift event {event_id} is neither queued nor settled")
        )
    return breaches

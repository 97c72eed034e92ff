"""Stream goals: a host's target for a live stream (a count of one gift, or coins).

Guarantees
- A stream has at most one active goal (a partial unique index); setting one replaces the
  active one, clearing ends it. Both keep the old row as history.
- A goal counts the gifts sent to its stream from ``started_at`` on (a gift's own
  ``created_at``). ``progress`` is written only by the gift settlement, in the batch that
  adds the same gifts to the stream's totals (``advance``, then ``save_progress``): a gift
  never locks the goal's row. Reads that must be exact advance the goal over what is
  still queued with the same ``advance``, so a read and a settlement agree on every count.
- A goal is completed by the gift that brings its progress to the target (in event id
  order): ``completed_at`` is that gift's time, ``completed_by_event_id`` its event.
  Progress keeps counting past the target; a reversed gift is not taken back out.
- A replaced or cleared goal is history (not shown by the API): its ``progress`` is what
  was settled while it was active, without gifts still queued when it ended.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from app.core.clock import as_utc, utcnow
from app.core.database import is_sqlite, is_unique_violation
from app.core.errors import DomainError, ErrorCode, invalid_input
from app.core.transactions import RetryTransaction, in_transaction
from app.streams import service as streams
from app.streams.tables import StreamGoal

MAX_GOAL_TITLE_LENGTH = 120
MAX_GOAL_COUNT = 100_000
MAX_GOAL_COINS = 1_000_000_000


class GoalKind(enum.StrEnum):
    GIFT = "GIFT"
    COINS = "COINS"


@dataclass(frozen=True, slots=True)
class GoalRecord:
    id: int
    stream_id: int
    kind: GoalKind
    gift_id: int | None
    target: int
    progress: int
    title: str | None
    started_at: datetime
    completed_at: datetime | None
    completed_by_event_id: int | None

    @property
    def completed(self) -> bool:
        return self.completed_at is not None


@dataclass(frozen=True, slots=True)
class CountedGift:
    """What a goal needs to know of a gift event."""

    event_id: int
    gift_id: int
    quantity: int
    coins: int
    created_at: datetime


def _record(row: dict) -> GoalRecord:
    return GoalRecord(
        id=row["id"],
        stream_id=row["stream_id"],
        kind=GoalKind(row["kind"]),
        gift_id=row["gift_id"],
        target=row["target"],
        progress=row["progress"],
        title=row["title"],
        started_at=as_utc(row["started_at"]),
        completed_at=as_utc(row["completed_at"]) if row["completed_at"] else None,
        completed_by_event_id=row["completed_by_event_id"],
    )


def advance(goal: GoalRecord, gifts: Iterable[CountedGift]) -> GoalRecord:
    """The goal with these gifts of its stream counted (those it counts, in event order)."""
    progress, completed_at, completed_by = (
        goal.progress,
        goal.completed_at,
        goal.completed_by_event_id,
    )
    for gift in sorted(gifts, key=lambda g: g.event_id):
        if gift.created_at < goal.started_at:
            continue
        if goal.kind is GoalKind.GIFT:
            if gift.gift_id != goal.gift_id:
                continue
            progress += gift.quantity
        else:
            progress += gift.coins
        if completed_at is None and progress >= goal.target:
            completed_at, completed_by = gift.created_at, gift.event_id
    if progress == goal.progress:
        return goal
    return replace(
        goal, progress=progress, completed_at=completed_at, completed_by_event_id=completed_by
    )


def validate_goal(
    *, gift_id: int | None, count: int | None, coins: int | None, title: str | None
) -> tuple[GoalKind, int, str | None]:
    """(kind, target, title): a gift and a count, or coins, never both."""
    if coins is not None:
        if gift_id is not None or count is not None:
            raise invalid_input("Set a gift and a count, or coins, not both.", "coins")
        if not 1 <= coins <= MAX_GOAL_COINS:
            raise invalid_input(f"A coins goal is 1 to {MAX_GOAL_COINS:,} coins.", "coins")
        kind, target = GoalKind.COINS, coins
    else:
        if gift_id is None:
            raise invalid_input("Set a gift and a count, or coins.", "giftId")
        if count is None or not 1 <= count <= MAX_GOAL_COUNT:
            raise invalid_input(f"A gift goal counts 1 to {MAX_GOAL_COUNT:,} gifts.", "count")
        kind, target = GoalKind.GIFT, count
    if title is not None:
        title = " ".join(title.split()) or None
        if title is not None and (len(title) > MAX_GOAL_TITLE_LENGTH or not title.isprintable()):
            raise invalid_input(
                f"A goal title is at most {MAX_GOAL_TITLE_LENGTH} printable characters.", "title"
            )
    return kind, target, title


async def _own_live_stream(host_id: int, stream_id: int) -> None:
    stream = await streams.get_stream(stream_id)
    if stream.host_id != host_id:
        raise DomainError(ErrorCode.FORBIDDEN, "Only the host can set this stream's goal.")
    if not stream.is_live:
        raise DomainError(ErrorCode.STREAM_NOT_LIVE, "This stream is not live.", "streamId")


async def _clear_active(stream_id: int) -> None:
    await StreamGoal.update({StreamGoal.cleared_at: utcnow()}).where(
        (StreamGoal.stream_id == stream_id) & StreamGoal.cleared_at.is_null()
    )


async def set_goal(
    host_id: int,
    stream_id: int,
    *,
    kind: GoalKind,
    gift_id: int | None,
    target: int,
    title: str | None,
) -> GoalRecord:
    """Replace the stream's goal with a new one counting from now (validated already)."""

    async def work() -> int:
        await _own_live_stream(host_id, stream_id)
        await _clear_active(stream_id)
        try:
            rows = await StreamGoal.insert(
                StreamGoal(
                    stream_id=stream_id,
                    kind=kind.value,
                    gift_id=gift_id if kind is GoalKind.GIFT else None,
                    target=target,
                    progress=0,
                    title=title,
                    started_at=utcnow(),
                )
            ).returning(StreamGoal.id)
        except Exception as error:
            if is_unique_violation(error):  # a concurrent set won: replace that one
                raise RetryTransaction("stream goal set concurrently") from error
            raise
        return rows[0]["id"]

    goal_id = await in_transaction(work)
    row = await StreamGoal.select().where(StreamGoal.id == goal_id).first()
    assert row is not None
    return _record(row)


async def clear_goal(host_id: int, stream_id: int) -> None:
    """End the stream's goal, if it has one; the host's only."""

    async def work() -> None:
        stream = await streams.get_stream(stream_id)
        if stream.host_id != host_id:
            raise DomainError(ErrorCode.FORBIDDEN, "Only the host can clear this stream's goal.")
        await _clear_active(stream_id)

    await in_transaction(work)


async def active_goals(stream_ids: Sequence[int], *, lock: bool = False) -> dict[int, GoalRecord]:
    """Each stream's active goal. ``lock`` (the settlement, in its transaction) locks them
    in id order on PostgreSQL, so a goal replaced meanwhile is never counted into."""
    if not stream_ids:
        return {}
    ids = sorted(set(stream_ids))
    placeholders = ", ".join("{}" for _ in ids)
    suffix = " ORDER BY id FOR UPDATE" if lock and not is_sqlite() else ""
    rows = await StreamGoal.raw(
        f"SELECT * FROM stream_goal WHERE stream_id IN ({placeholders}) "  # noqa: S608 (only "{}" placeholders are formatted in)
        f"AND cleared_at IS NULL{suffix}",
        *ids,
    )
    return {row["stream_id"]: _record(row) for row in rows}


async def save_progress(goals: Iterable[GoalRecord]) -> None:
    """Write advanced goals (the settlement's batch; a few rows, locked already)."""
    for goal in goals:
        await StreamGoal.update(
            {
                StreamGoal.progress: goal.progress,
                StreamGoal.completed_at: goal.completed_at,
                StreamGoal.completed_by_event_id: goal.completed_by_event_id,
            }
        ).where(StreamGoal.id == goal.id)

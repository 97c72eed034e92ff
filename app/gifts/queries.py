"""Reading gift events: for the API, the live feed, the fraud rules and creator statements.

``gift_event`` belongs to this package; other packages read it only through these
functions, so every query over it is here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import msgspec
from piccolo.query.functions.aggregate import Sum

from app.core.clock import as_utc
from app.core.errors import DomainError, ErrorCode
from app.gifts.messages import visible_messages
from app.gifts.tables import GiftEvent


@dataclass(frozen=True, slots=True)
class GiftEventRecord:
    id: int
    operation_id: int
    stream_id: int
    gift_id: int
    gift_version_id: int
    sender_id: int
    host_id: int
    quantity: int
    coins: int
    diamonds: int
    combo_count: int
    created_at: datetime
    # Trimmed text, None for none or hidden (``app.gifts.messages``); the live feed carries
    # it, and its readers check it was not hidden since (``visible_messages``).
    message: str | None = None


def _record(row: dict[str, Any]) -> GiftEventRecord:
    return GiftEventRecord(
        id=row["id"],
        operation_id=row["operation_id"],
        stream_id=row["stream_id"],
        gift_id=row["gift_id"],
        gift_version_id=row["gift_version_id"],
        sender_id=row["sender_id"],
        host_id=row["host_id"],
        quantity=row["quantity"],
        coins=row["coins"],
        diamonds=row["diamonds"],
        combo_count=row["combo_count"],
        created_at=as_utc(row["created_at"]),
    )


async def with_messages(records: Sequence[GiftEventRecord]) -> list[GiftEventRecord]:
    """The records with their visible messages, in one query for all of them."""
    found = await visible_messages([record.id for record in records])
    if not found:
        return list(records)
    return [
        replace(record, message=found[record.id]) if record.id in found else record
        for record in records
    ]


def _placeholders(ids: Sequence[int]) -> str:
    return ", ".join("{}" for _ in ids)


async def events_by_ids(event_ids: Sequence[int]) -> dict[int, GiftEventRecord]:
    if not event_ids:
        return {}
    rows = await GiftEvent.select().where(GiftEvent.id.is_in(list(set(event_ids))))
    return {record.id: record for record in await with_messages([_record(row) for row in rows])}


_encode_event = msgspec.json.Encoder().encode
_decode_event = msgspec.json.Decoder(GiftEventRecord).decode


def encode_event(event: GiftEventRecord) -> bytes:
    """The event as the live feed carries it: subscribers need no read to show it."""
    return _encode_event(event)


def decode_event(message: bytes) -> GiftEventRecord:
    return _decode_event(message)


async def get_event(event_id: int) -> GiftEventRecord:
    found = await events_by_ids([event_id])
    if event_id not in found:
        raise DomainError(ErrorCode.NOT_FOUND, "No such gift event.", "giftEventId")
    return found[event_id]


async def recent_events(stream_ids: Sequence[int], first: int) -> dict[int, list[GiftEventRecord]]:
    """The ``first`` newest gift events of each stream, newest first, in one query."""
    found: dict[int, list[GiftEventRecord]] = {stream_id: [] for stream_id in stream_ids}
    if not stream_ids or first <= 0:
        return found
    ids = sorted(set(stream_ids))
    rows = await GiftEvent.raw(
        "SELECT * FROM (SELECT gift_event.*, ROW_NUMBER() OVER ("  # noqa: S608 (only "{}" placeholders are formatted in)
        "PARTITION BY stream_id ORDER BY id DESC) AS position FROM gift_event "
        f"WHERE stream_id IN ({_placeholders(ids)})"
        ") ranked WHERE position <= {} ORDER BY stream_id, position",
        *ids,
        first,
    )
    for record in await with_messages([_record(row) for row in rows]):
        found[record.stream_id].append(record)
    return found


async def events_of_user(
    user_id: int, *, sent: bool | None, limit: int, before_id: int | None = None
) -> list[GiftEventRecord]:
    """A user's newest gift events: sent (``sent=True``), received as host (``False``), or
    either (``None``); older than ``before_id`` when given."""
    if sent is None:
        where = (GiftEvent.sender_id == user_id) | (GiftEvent.host_id == user_id)
    else:
        where = (GiftEvent.sender_id if sent else GiftEvent.host_id) == user_id
    query = GiftEvent.select().where(where)
    if before_id is not None:
        query = query.where(GiftEvent.id < before_id)
    rows = await query.order_by(GiftEvent.id, ascending=False).limit(limit)
    return await with_messages([_record(row) for row in rows])


# For the fraud rules -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sent:
    """What a sender gave in a window: the coins, and the newest events as evidence."""

    coins: int
    newest_event_ids: list[int]


async def coins_sent_since(
    sender_id: int, since: datetime, *, host_id: int | None = None, evidence: int
) -> Sent:
    """Summed by the database, whatever the count: a rule's cost does not grow with the
    gifts a sender has made."""
    where = _sent_since(sender_id, since, host_id)
    [total] = await GiftEvent.select(Sum(GiftEvent.coins).as_alias("coins")).where(where)
    newest = (
        await GiftEvent.select(GiftEvent.id)
        .where(where)
        .order_by(GiftEvent.id, ascending=False)
        .limit(evidence)
    )
    return Sent(int(total["coins"] or 0), [row["id"] for row in newest])


def _sent_since(sender_id: int, since: datetime, host_id: int | None) -> Any:
    where = (GiftEvent.sender_id == sender_id) & (GiftEvent.created_at >= since)
    return where & (GiftEvent.host_id == host_id) if host_id is not None else where


_PAIRS_PER_STATEMENT = 500


async def pairs_gifted_since(
    pairs: Sequence[tuple[int, int]], since: datetime
) -> set[tuple[int, int]]:
    """Which of these (sender, host) pairs have a gift since ``since``: one statement per
    500 pairs, for rules that screen a whole batch of gifts at once."""
    wanted = sorted(set(pairs))
    found: set[tuple[int, int]] = set()
    for start in range(0, len(wanted), _PAIRS_PER_STATEMENT):
        chunk = wanted[start : start + _PAIRS_PER_STATEMENT]
        values = ", ".join("(CAST({} AS BIGINT), CAST({} AS BIGINT))" for _ in chunk)
        rows = await GiftEvent.raw(
            "SELECT DISTINCT sender_id, host_id FROM gift_event WHERE created_at >= {} "  # noqa: S608 (only "{}" placeholders are formatted in)
            f"AND (sender_id, host_id) IN (VALUES {values})",
            since,
            *(user_id for pair in chunk for user_id in pair),
        )
        found.update((row["sender_id"], row["host_id"]) for row in rows)
    return found


async def received_by_sender(host_id: int, since: datetime) -> dict[int, tuple[int, int]]:
    """(coins, diamonds) the host received from each sender since ``since``."""
    rows = await GiftEvent.raw(
        "SELECT sender_id, SUM(coins) AS coins, SUM(diamonds) AS diamonds FROM gift_event "
        "WHERE host_id = {} AND created_at >= {} GROUP BY sender_id",
        host_id,
        since,
    )
    return {row["sender_id"]: (int(row["coins"]), int(row["diamonds"])) for row in rows}


@dataclass(frozen=True, slots=True)
class Received:
    """Diamonds a host received in a window, and when the oldest of those gifts was sent."""

    diamonds: int
    oldest_at: datetime | None


async def received_since(host_ids: Sequence[int], since: datetime) -> dict[int, Received]:
    """Diamonds each host received by gifts sent after ``since`` (maturing earnings): one
    statement over the ``(host_id, created_at)`` index for a whole page of creators."""
    found = {host_id: Received(0, None) for host_id in host_ids}
    if not host_ids:
        return found
    wanted = sorted(set(host_ids))
    rows = await GiftEvent.raw(
        "SELECT host_id, SUM(diamonds) AS diamonds, MIN(created_at) AS oldest FROM gift_event "  # noqa: S608 (only "{}" placeholders are formatted in)
        f"WHERE host_id IN ({_placeholders(wanted)}) AND created_at > {{}} GROUP BY host_id",
        *wanted,
        since,
    )
    for row in rows:
        oldest = row["oldest"]
        if isinstance(oldest, str):  # SQLite answers an aggregate's timestamp as text
            oldest = datetime.fromisoformat(oldest)
        found[row["host_id"]] = Received(int(row["diamonds"] or 0), as_utc(oldest))
    return found


async def sent_from(
    sender_id: int, since: datetime, *, after_id: int = 0, limit: int = 100
) -> list[GiftEventRecord]:
    """The sender's gifts sent at or after ``since``, oldest first, after event ``after_id``
    (tracing refunded coins to the gifts they paid for, a page at a time)."""
    rows = (
        await GiftEvent.select()
        .where(
            (GiftEvent.sender_id == sender_id)
            & (GiftEvent.created_at >= since)
            & (GiftEvent.id > after_id)
        )
        .order_by(GiftEvent.id)
        .limit(limit)
    )
    return [_record(row) for row in rows]


async def active_since(since: datetime) -> list[tuple[int, int]]:
    """Every distinct (sender, host) pair with a gift since ``since``, sorted."""
    rows = (
        await GiftEvent.select(GiftEvent.sender_id, GiftEvent.host_id)
        .where(GiftEvent.created_at >= since)
        .distinct()
    )
    return sorted((row["sender_id"], row["host_id"]) for row in rows)


@dataclass(frozen=True, slots=True)
class Counterparty:
    user_id: int
    coins_sent: int  # by the subject to this user
    coins_received: int  # by the subject from this user
    gifts: int
    last_at: datetime


async def counterparties(user_id: int, *, limit: int = 20) -> list[Counterparty]:
    """Who the user gifted and who gifted them, with coins each way, biggest first."""
    rows = await GiftEvent.raw(
        "SELECT host_id AS other, SUM(coins) AS sent, 0 AS received, COUNT(*) AS gifts, "
        "MAX(created_at) AS last_at FROM gift_event WHERE sender_id = {} GROUP BY host_id "
        "UNION ALL "
        "SELECT sender_id AS other, 0 AS sent, SUM(coins) AS received, COUNT(*) AS gifts, "
        "MAX(created_at) AS last_at FROM gift_event WHERE host_id = {} GROUP BY sender_id",
        user_id,
        user_id,
    )
    merged: dict[int, Counterparty] = {}
    for row in rows:
        other = row["other"]
        last_at = row["last_at"]
        last_at = as_utc(
            last_at if isinstance(last_at, datetime) else datetime.fromisoformat(str(last_at))
        )
        before = merged.get(other)
        merged[other] = Counterparty(
            user_id=other,
            coins_sent=int(row["sent"]) + (before.coins_sent if before else 0),
            coins_received=int(row["received"]) + (before.coins_received if before else 0),
            gifts=int(row["gifts"]) + (before.gifts if before else 0),
            last_at=max(last_at, before.last_at) if before else last_at,
        )
    ranked = sorted(merged.values(), key=lambda c: (-(c.coins_sent + c.coins_received), c.user_id))
    return ranked[:limit]

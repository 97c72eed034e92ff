"""Live streams: going live, ending, reading streams, their totals and leaderboards.

This package owns ``live_stream`` and ``stream_gifter``. A gift is counted in the sender's
total and combo by ``record_gift`` (in the gift's transaction), in the stream's totals by
``add_gift_totals`` (when the gifts settlement settles it, in batches) and taken out by
``unrecord_gift`` (a reversal); nothing else writes them. Reads that must be exact add
what is still queued (``app.gifts.settlement``).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from app.core.clock import as_utc, utcnow
from app.core.database import is_unique_violation, rows_source
from app.core.errors import DomainError, ErrorCode
from app.core.transactions import in_transaction
from app.streams.tables import LiveStream, StreamGifter
from app.users import service as users


class StreamStatus(enum.StrEnum):
    LIVE = "LIVE"
    ENDED = "ENDED"


LIVE = StreamStatus.LIVE.value
ENDED = StreamStatus.ENDED.value
MAX_TITLE_LENGTH = 120


@dataclass(frozen=True, slots=True)
class StreamRecord:
    id: int
    host_id: int
    title: str
    status: str
    started_at: datetime
    ended_at: datetime | None
    coins_received: int
    gift_count: int

    @property
    def is_live(self) -> bool:
        return self.status == LIVE


@dataclass(frozen=True, slots=True)
class GifterRank:
    rank: int
    sender_id: int
    coins: int


def _record(row: dict) -> StreamRecord:
    return StreamRecord(
        id=row["id"],
        host_id=row["host_id"],
        title=row["title"],
        status=row["status"],
        started_at=as_utc(row["started_at"]),
        ended_at=as_utc(row["ended_at"]) if row["ended_at"] else None,
        coins_received=row["coins_received"],
        gift_count=row["gift_count"],
    )


def validate_title(title: str) -> str:
    title = " ".join(title.split())
    if not title or len(title) > MAX_TITLE_LENGTH or not title.isprintable():
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"A stream title is 1 to {MAX_TITLE_LENGTH} printable characters.",
            "title",
        )
    return title


def _already_live() -> DomainError:
    return DomainError(ErrorCode.ALREADY_LIVE, "You already have a live stream; end it first.")


async def start_stream(host_id: int, title: str) -> StreamRecord:
    """Go live: adults in good standing only, one live stream per host (a unique index)."""
    title = validate_title(title)

    async def work() -> int:
        users.require_can_transact(await users.get_user(host_id))
        if await LiveStream.exists().where(
            (LiveStream.host_id == host_id) & (LiveStream.status == LIVE)
        ):
            raise _already_live()
        try:
            rows = await LiveStream.insert(
                LiveStream(host_id=host_id, title=title, status=LIVE, started_at=utcnow())
            ).returning(LiveStream.id)
        except Exception as error:
            if is_unique_violation(error):
                raise _already_live() from error
            raise
        return rows[0]["id"]

    return await get_stream(await in_transaction(work))


async def end_stream(host_id: int, stream_id: int) -> StreamRecord:
    """End a live stream; only its host may. Ending an ended stream returns it as it is."""

    async def work() -> None:
        stream = await get_stream(stream_id)
        if stream.host_id != host_id:
            raise DomainError(ErrorCode.FORBIDDEN, "Only the host can end this stream.")
        await LiveStream.update({LiveStream.status: ENDED, LiveStream.ended_at: utcnow()}).where(
            (LiveStream.id == stream_id) & (LiveStream.status == LIVE)
        )

    await in_transaction(work)
    return await get_stream(stream_id)


async def end_streams_of_host(host_id: int) -> int:
    """End every live stream of a host (a freeze); returns how many were live."""
    rows = (
        await LiveStream.update({LiveStream.status: ENDED, LiveStream.ended_at: utcnow()})
        .where((LiveStream.host_id == host_id) & (LiveStream.status == LIVE))
        .returning(LiveStream.id)
    )
    return len(rows)


async def get_stream(stream_id: int) -> StreamRecord:
    found = await streams_by_ids([stream_id])
    if stream_id not in found:
        raise DomainError(ErrorCode.NOT_FOUND, "No such live stream.", "streamId")
    return found[stream_id]


async def streams_by_ids(stream_ids: Sequence[int]) -> dict[int, StreamRecord]:
    if not stream_ids:
        return {}
    rows = await LiveStream.select().where(LiveStream.id.is_in(list(set(stream_ids))))
    return {row["id"]: _record(row) for row in rows}


async def live_streams_of_hosts(host_ids: Sequence[int]) -> dict[int, StreamRecord]:
    """Each host's current live stream, for many hosts at once."""
    if not host_ids:
        return {}
    rows = await LiveStream.select().where(
        LiveStream.host_id.is_in(list(set(host_ids))) & (LiveStream.status == LIVE)
    )
    return {row["host_id"]: _record(row) for row in rows}


def with_pending(stream: StreamRecord, pending: Mapping[int, tuple[int, int]]) -> StreamRecord:
    """The stream with the (coins, gifts) not added to its totals yet counted in."""
    coins, gifts = pending.get(stream.id, (0, 0))
    if not coins and not gifts:
        return stream
    return replace(
        stream, coins_received=stream.coins_received + coins, gift_count=stream.gift_count + gifts
    )


async def list_live(
    *,
    limit: int,
    after: tuple[int, int] | None = None,
    pending: Mapping[int, tuple[int, int]] | None = None,
) -> list[StreamRecord]:
    """Live streams, most coins first (then oldest id first); keyset after (coins, id).

    ``pending`` (coins, gifts) per stream, not in the totals yet, count in the order and in
    the records: the caller knows what is queued, this package does not."""
    extra = {stream_id: coins for stream_id, (coins, _) in (pending or {}).items() if coins}
    values = ", ".join("(CAST({} AS BIGINT), CAST({} AS BIGINT))" for _ in extra) or (
        "(CAST(0 AS BIGINT), CAST(0 AS BIGINT))"
    )
    args: list[object] = [n for item in sorted(extra.items()) for n in item]
    keyset = ""
    if after is not None:
        keyset = " AND (total < {} OR (total = {} AND id > {}))"
        args += [after[0], after[0], after[1]]
    rows = await LiveStream.raw(
        "SELECT * FROM (SELECT live_stream.*, coins_received + COALESCE(p.column2, 0) AS total "  # noqa: S608 (only "{}" placeholders are formatted in)
        f"FROM live_stream LEFT JOIN (VALUES {values}) AS p ON p.column1 = live_stream.id "
        f"WHERE status = 'LIVE') ranked WHERE 1 = 1{keyset} ORDER BY total DESC, id LIMIT {{}}",
        *args,
        limit,
    )
    return [with_pending(_record(row), pending or {}) for row in rows]


async def top_gifters(stream_ids: Sequence[int], first: int) -> dict[int, list[GifterRank]]:
    """The ``first`` biggest senders of each stream, by coins; ties go to who got there first
    (the earlier last gift)."""
    if not stream_ids or first <= 0:
        return {stream_id: [] for stream_id in stream_ids}
    ids = sorted(set(stream_ids))
    placeholders = ", ".join("{}" for _ in ids)
    rows = await StreamGifter.raw(
        "SELECT stream_id, sender_id, coins, position FROM ("  # noqa: S608 (only "{}" placeholders are formatted in)
        "SELECT stream_id, sender_id, coins, ROW_NUMBER() OVER ("
        "PARTITION BY stream_id ORDER BY coins DESC, last_sent_at ASC, sender_id ASC) AS position "
        f"FROM stream_gifter WHERE stream_id IN ({placeholders}) AND coins > 0"
        ") ranked WHERE position <= {} ORDER BY stream_id, position",
        *ids,
        first,
    )
    found: dict[int, list[GifterRank]] = {stream_id: [] for stream_id in stream_ids}
    for row in rows:
        found[row["stream_id"]].append(
            GifterRank(rank=row["position"], sender_id=row["sender_id"], coins=row["coins"])
        )
    return found


# Counting gifts ------------------------------------------------------------------------


async def record_gift(
    *,
    stream_id: int,
    sender_id: int,
    gift_id: int,
    coins: int,
    combo_window_s: int,
) -> int:
    """Count a gift in the sender's standing on the stream; returns its combo count.

    Consecutive sends of one gift by one sender within ``combo_window_s`` count up the
    combo. Only the sender's own row is written: the stream's totals arrive in batches
    (``add_gift_totals``), so gifts to one stream do not queue for its row.
    """
    now = utcnow()
    previous = (
        await StreamGifter.select(
            StreamGifter.last_gift_id, StreamGifter.last_sent_at, StreamGifter.combo_count
        )
        .where((StreamGifter.stream_id == stream_id) & (StreamGifter.sender_id == sender_id))
        .first()
    )
    combo = 1
    window = timedelta(seconds=combo_window_s)
    if (
        previous
        and previous["last_gift_id"] == gift_id
        and now - as_utc(previous["last_sent_at"]) <= window
    ):
        combo = previous["combo_count"] + 1
    await StreamGifter.raw(
        "INSERT INTO stream_gifter (stream_id, sender_id, coins, last_gift_id, last_sent_at, "
        "combo_count) VALUES ({}, {}, {}, {}, {}, {}) "
        "ON CONFLICT (stream_id, sender_id) DO UPDATE SET "
        "coins = stream_gifter.coins + excluded.coins, last_gift_id = excluded.last_gift_id, "
        "last_sent_at = excluded.last_sent_at, combo_count = excluded.combo_count",
        stream_id,
        sender_id,
        coins,
        gift_id,
        now,
        combo,
    )
    return combo


async def add_gift_totals(totals: Mapping[int, tuple[int, int]]) -> None:
    """Add (coins, gifts) to each stream's totals in one statement (a settled batch)."""
    if not totals:
        return
    ordered = sorted(totals.items())
    source, args = rows_source(
        [
            ("BIGINT", [stream_id for stream_id, _ in ordered]),
            ("BIGINT", [coins for _, (coins, _) in ordered]),
            ("BIGINT", [quantity for _, (_, quantity) in ordered]),
        ]
    )
    await LiveStream.raw(
        "UPDATE live_stream SET coins_received = coins_received + v.column2, "  # noqa: S608 (only "{}" placeholders are formatted in)
        f"gift_count = gift_count + v.column3 FROM {source} "
        "WHERE live_stream.id = v.column1",
        *args,
    )


async def unrecord_gift(
    *, stream_id: int, sender_id: int, coins: int, quantity: int, in_totals: bool
) -> None:
    """Take a reversed gift out of the sender's standing, and out of the stream's totals
    when it had reached them (``in_totals``: it was settled, not still queued)."""
    if in_totals:
        await LiveStream.update(
            {
                LiveStream.coins_received: LiveStream.coins_received - coins,
                LiveStream.gift_count: LiveStream.gift_count - quantity,
            }
        ).where(LiveStream.id == stream_id)
    await StreamGifter.update({StreamGifter.coins: StreamGifter.coins - coins}).where(
        (StreamGifter.stream_id == stream_id) & (StreamGifter.sender_id == sender_id)
    )

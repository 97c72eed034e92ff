"""Sending gifts: the hot path from a viewer's coins to a creator's diamonds.

Guarantees
- One ``send_gift`` is one transaction: the sender's coins go to the coin sink (GIFT_SENT),
  diamonds go from diamond issuance to the host (GIFT_RECEIVED), the gift event with its
  price snapshot, the stream's totals, the sender's per-stream total, the day's spend
  counter and the idempotency key all commit together, or nothing does.
- Lock order: the sender's spend counter for today, then the ledger accounts in ascending
  id order, then the stream row, then the sender's per-stream row.
- The live feed hears of a gift only after its transaction committed, and never of a replay.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from app.core.clock import as_utc, utcnow
from app.core.database import current_engine
from app.core.errors import DomainError, ErrorCode
from app.core.transactions import in_transaction
from app.fraud import rules as fraud_rules
from app.gifts import catalog
from app.gifts.tables import GiftEvent
from app.ledger import service as ledger
from app.ledger.codes import AccountCode, Currency, TransferKind
from app.settings import FraudSettings, SpendingSettings
from app.spending import service as spending
from app.streams import service as streams
from app.streams.feed import GiftFeed
from app.users import service as users

log = structlog.get_logger(__name__)

OPERATION_KIND = "SEND_GIFT"


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


@dataclass(frozen=True, slots=True)
class SentGift:
    event: GiftEventRecord
    replayed: bool = False
    # When the sender's account was opened (for the fraud rules run after the commit).
    sender_created_at: datetime | None = None


def _record(row: dict) -> GiftEventRecord:
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


def validate_quantity(quantity: int, maximum: int) -> int:
    if not 1 <= quantity <= maximum:
        raise DomainError(
            ErrorCode.INVALID_INPUT, f"Send between 1 and {maximum} at a time.", "quantity"
        )
    return quantity


async def send_gift(
    *,
    sender_id: int,
    stream_id: int,
    gift_id: int,
    quantity: int,
    idempotency_key: str,
    platform: SpendingSettings,
    feed: GiftFeed | None = None,
    fraud: FraudSettings | None = None,
) -> SentGift:
    """Send a gift; then (after the commit) tell ``feed`` and run the cheap ``fraud`` rules."""
    validate_quantity(quantity, platform.max_gift_quantity)
    ledger.validate_idempotency_key(idempotency_key)
    post_commit = feed is not None or fraud is not None
    if post_commit and current_engine().current_transaction.get() is not None:
        # Joined to a caller's transaction, the feed and the fraud rules would hear of
        # the gift before it commits.
        raise RuntimeError("send_gift with a feed or fraud rules must own its transaction")

    async def work() -> SentGift:
        started = await ledger.open_operation(
            OPERATION_KIND,
            user_id=sender_id,
            idempotency_key=idempotency_key,
            request={"stream": stream_id, "gift": gift_id, "quantity": quantity},
        )
        if isinstance(started, ledger.Replay):
            return SentGift(await get_event(int(started.result_ref or 0)), replayed=True)

        sender = users.require_can_transact(await users.get_user(sender_id))
        stream = (await streams.streams_by_ids([stream_id])).get(stream_id)
        if stream is None or not stream.is_live:
            raise DomainError(ErrorCode.STREAM_NOT_LIVE, "This stream is not live.", "streamId")
        if stream.host_id == sender_id:
            raise DomainError(ErrorCode.SELF_GIFT, "You cannot send gifts to yourself.")
        gift = (await catalog.gifts_by_ids([gift_id])).get(gift_id)
        if gift is None or gift.retired:
            raise DomainError(ErrorCode.GIFT_UNAVAILABLE, "This gift is not available.", "giftId")
        coins = gift.coin_cost * quantity
        diamonds = gift.diamond_value * quantity
        await spending.record_spend(sender, coins, platform=platform)

        accounts = await ledger.user_account_ids([sender_id, stream.host_id])
        description = f"{gift.name} x{quantity}"
        await ledger.post_transfers(
            started,
            [
                ledger.Leg(
                    TransferKind.GIFT_SENT,
                    accounts[sender_id][Currency.COIN],
                    await ledger.system_account_id(AccountCode.COIN_SINK),
                    coins,
                    description,
                ),
                ledger.Leg(
                    TransferKind.GIFT_RECEIVED,
                    await ledger.system_account_id(AccountCode.DIAMOND_ISSUANCE),
                    accounts[stream.host_id][Currency.DIAMOND],
                    diamonds,
                    description,
                ),
            ],
        )
        still_live = await GiftEvent.raw(
            "UPDATE live_stream SET coins_received = coins_received + {}, "
            "gift_count = gift_count + {} WHERE id = {} AND status = 'LIVE' RETURNING id",
            coins,
            quantity,
            stream_id,
        )
        if not still_live:
            raise DomainError(ErrorCode.STREAM_NOT_LIVE, "This stream has ended.", "streamId")

        now = utcnow()
        previous = await GiftEvent.raw(
            "SELECT last_gift_id, last_sent_at, combo_count FROM stream_gifter "
            "WHERE stream_id = {} AND sender_id = {}",
            stream_id,
            sender_id,
        )
        combo = 1
        if previous and previous[0]["last_gift_id"] == gift_id:
            since = now - as_utc(previous[0]["last_sent_at"])
            if since <= timedelta(seconds=platform.combo_window_s):
                combo = previous[0]["combo_count"] + 1
        rows = await GiftEvent.raw(
            "INSERT INTO gift_event (operation_id, stream_id, gift_id, gift_version_id, "
            "sender_id, host_id, quantity, coins, diamonds, combo_count, created_at) "
            "VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}) RETURNING id",
            started.id,
            stream_id,
            gift_id,
            gift.version_id,
            sender_id,
            stream.host_id,
            quantity,
            coins,
            diamonds,
            combo,
            now,
        )
        event_id = rows[0]["id"]
        await GiftEvent.raw(
            "INSERT INTO stream_gifter (stream_id, sender_id, coins, last_event_id, "
            "last_gift_id, last_sent_at, combo_count) VALUES ({}, {}, {}, {}, {}, {}, {}) "
            "ON CONFLICT (stream_id, sender_id) DO UPDATE SET "
            "coins = stream_gifter.coins + excluded.coins, "
            "last_event_id = excluded.last_event_id, last_gift_id = excluded.last_gift_id, "
            "last_sent_at = excluded.last_sent_at, combo_count = excluded.combo_count",
            stream_id,
            sender_id,
            coins,
            event_id,
            gift_id,
            now,
            combo,
        )
        await ledger.set_result(started, str(event_id))
        return SentGift(
            GiftEventRecord(
                id=event_id,
                operation_id=started.id,
                stream_id=stream_id,
                gift_id=gift_id,
                gift_version_id=gift.version_id,
                sender_id=sender_id,
                host_id=stream.host_id,
                quantity=quantity,
                coins=coins,
                diamonds=diamonds,
                combo_count=combo,
                created_at=now,
            ),
            sender_created_at=sender.created_at,
        )

    sent = await in_transaction(work)
    if feed is not None and not sent.replayed:
        try:
            await feed.publish(sent.event.stream_id, sent.event.id)
        except Exception:  # the gift is committed; a lost notification is not a lost coin
            log.exception("feed.publish_failed", event_id=sent.event.id)
    if fraud is not None and not sent.replayed:
        await fraud_rules.after_gift(
            sent.event.sender_id, sent.event.host_id, fraud, sent.sender_created_at
        )
    return sent


async def events_by_ids(event_ids: Sequence[int]) -> dict[int, GiftEventRecord]:
    if not event_ids:
        return {}
    rows = await GiftEvent.select().where(GiftEvent.id.is_in(list(set(event_ids))))
    return {row["id"]: _record(row) for row in rows}


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
    placeholders = ", ".join("{}" for _ in ids)
    rows = await GiftEvent.raw(
        "SELECT * FROM (SELECT gift_event.*, ROW_NUMBER() OVER ("  # noqa: S608 (only "{}" placeholders are formatted in)
        "PARTITION BY stream_id ORDER BY id DESC) AS position FROM gift_event "
        f"WHERE stream_id IN ({placeholders})"
        ") ranked WHERE position <= {} ORDER BY stream_id, position",
        *ids,
        first,
    )
    for row in rows:
        found[row["stream_id"]].append(_record(row))
    return found


async def events_of_user(user_id: int, *, sent: bool, limit: int) -> list[GiftEventRecord]:
    """A user's newest gift events: the ones they sent, or the ones sent to them as host."""
    column = GiftEvent.sender_id if sent else GiftEvent.host_id
    rows = (
        await GiftEvent.select()
        .where(column == user_id)
        .order_by(GiftEvent.id, ascending=False)
        .limit(limit)
    )
    return [_record(row) for row in rows]

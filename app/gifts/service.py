"""Sending gifts: the hot path from a viewer's coins to a creator's diamonds.

Guarantees
- One ``send_gift`` is one ledger operation (``ledger.run_operation``): the sender's coins go
  to the coin sink (GIFT_SENT), diamonds go from diamond issuance to the host
  (GIFT_RECEIVED), the gift event with its price snapshot, the stream's totals, the sender's
  per-stream total, the day's spend counter and the idempotency key all commit together,
  or nothing does.
- Lock order: the sender's spend counter for today, then the stream row and the sender's
  per-stream row (``streams.record_gift``), then the ledger accounts in ascending id order.
- ``GiftSent`` is emitted in the transaction and heard (by the live feed, the fraud rules)
  only after it commits; never for a replay or a rolled-back gift.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from app import ledger
from app.core.clock import utcnow
from app.core.errors import DomainError, ErrorCode
from app.core.events import emit
from app.gifts import catalog
from app.gifts.queries import GiftEventRecord, get_event
from app.gifts.tables import GiftEvent
from app.ledger import AccountCode, Currency, TransferKind
from app.settings import SpendingSettings
from app.spending import service as spending
from app.streams import service as streams
from app.users import service as users

OPERATION_KIND = "SEND_GIFT"


@dataclass(frozen=True, slots=True)
class SentGift:
    event: GiftEventRecord
    replayed: bool = False


@dataclass(frozen=True, slots=True)
class GiftSent:
    """Emitted once per committed gift (never for a replay)."""

    event: GiftEventRecord
    # When the sender's account was opened: the fraud rules skip young-account checks
    # for established senders without another read.
    sender_created_at: datetime


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
) -> SentGift:
    """Send ``quantity`` of a gift to a live stream's host, once per idempotency key."""
    validate_quantity(quantity, platform.max_gift_quantity)

    async def build(operation: ledger.OpenOperation) -> ledger.Plan[GiftEventRecord]:
        sender = users.require_can_transact(await users.get_user(sender_id))
        stream = (await streams.streams_by_ids([stream_id])).get(stream_id)
        if stream is None or not stream.is_live:
            raise DomainError(ErrorCode.STREAM_NOT_LIVE, "This stream is not live.", "streamId")
        if stream.host_id == sender_id:
            raise DomainError(ErrorCode.SELF_GIFT, "You cannot send gifts to yourself.")
        gift = (await catalog.gifts_by_ids([gift_id])).get(gift_id)
        if gift is None or gift.retired:
            raise DomainError(ErrorCode.GIFT_UNAVAILABLE, "This gift is not available.", "giftId")
        coins, diamonds = gift.coin_cost * quantity, gift.diamond_value * quantity
        await spending.record_spend(sender, coins, platform=platform)
        combo = await streams.record_gift(
            stream_id=stream_id,
            sender_id=sender_id,
            gift_id=gift_id,
            coins=coins,
            quantity=quantity,
            combo_window_s=platform.combo_window_s,
        )
        fields = {
            "operation_id": operation.id,
            "stream_id": stream_id,
            "gift_id": gift_id,
            "gift_version_id": gift.version_id,
            "sender_id": sender_id,
            "host_id": stream.host_id,
            "quantity": quantity,
            "coins": coins,
            "diamonds": diamonds,
            "combo_count": combo,
            "created_at": utcnow(),
        }
        rows = await GiftEvent.insert(GiftEvent(**fields)).returning(GiftEvent.id)
        event = GiftEventRecord(id=rows[0]["id"], **fields)
        emit(GiftSent(event, sender.created_at))
        accounts = await ledger.user_account_ids([sender_id, stream.host_id])
        description = f"{gift.name} x{quantity}"
        legs = [
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
        ]
        return ledger.Plan(legs, str(event.id), event)

    outcome = await ledger.run_operation(
        OPERATION_KIND,
        user_id=sender_id,
        idempotency_key=idempotency_key,
        request={"stream": stream_id, "gift": gift_id, "quantity": quantity},
        build=build,
    )
    if outcome.value is None:
        return SentGift(await get_event(int(outcome.result_ref or 0)), replayed=True)
    return SentGift(outcome.value)

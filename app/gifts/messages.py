"""Gift messages: the short text a gift may carry, and the host hiding it.

Guarantees
- A message is stored with its gift, in the send's transaction (``record_message``), and
  is part of the send's idempotency fingerprint: the same key with another message is
  IDEMPOTENCY_KEY_REUSED.
- A hidden message reads as None through ``visible_messages`` (the API, the stream's
  recent gifts and the live feed, even for an event published before the hide); only
  moderation (``message_of``: a report's evidence) still sees its text.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from app.audit import service as audit
from app.audit.service import Actor
from app.core.clock import as_utc, utcnow
from app.core.errors import DomainError, ErrorCode, invalid_input
from app.core.transactions import in_transaction
from app.gifts.tables import GiftEvent, GiftMessage
from app.streams import service as streams

MAX_MESSAGE_LENGTH = 150
MAX_REASON_LENGTH = 500


def validate_message(message: str | None) -> str | None:
    """The message trimmed; None for none (or only spaces). Control characters (NUL, line
    breaks, escapes) are refused rather than dropped: what is shown is what was sent."""
    if message is None:
        return None
    message = message.strip()
    if not message:
        return None
    if len(message) > MAX_MESSAGE_LENGTH:
        raise invalid_input(
            f"A gift message is at most {MAX_MESSAGE_LENGTH} characters.", "message"
        )
    if any(unicodedata.category(c) in ("Cc", "Cs") for c in message):
        raise invalid_input("A gift message cannot contain control characters.", "message")
    return message


async def record_message(event_id: int, message: str) -> None:
    """Store a gift's message (in the send's transaction)."""
    await GiftMessage.insert(GiftMessage(event_id=event_id, message=message))


async def visible_messages(event_ids: Sequence[int]) -> dict[int, str]:
    """The messages of these events that are not hidden."""
    if not event_ids:
        return {}
    rows = await GiftMessage.select(GiftMessage.event_id, GiftMessage.message).where(
        GiftMessage.event_id.is_in(list(set(event_ids))) & GiftMessage.hidden_at.is_null()
    )
    return {row["event_id"]: row["message"] for row in rows}


@dataclass(frozen=True, slots=True)
class MessageRecord:
    event_id: int
    message: str
    hidden_at: datetime | None
    hidden_by: str | None


async def message_of(event_id: int) -> MessageRecord | None:
    """A gift's message, hidden or not (moderation's view)."""
    row = await GiftMessage.select().where(GiftMessage.event_id == event_id).first()
    if row is None:
        return None
    return MessageRecord(
        event_id=row["event_id"],
        message=row["message"],
        hidden_at=as_utc(row["hidden_at"]) if row["hidden_at"] else None,
        hidden_by=row["hidden_by"],
    )


def _no_message() -> DomainError:
    return DomainError(ErrorCode.NOT_FOUND, "This gift carries no message.", "giftEventId")


async def _hide(event_id: int, by: str) -> None:
    rows = (
        await GiftMessage.update({GiftMessage.hidden_at: utcnow(), GiftMessage.hidden_by: by})
        .where((GiftMessage.event_id == event_id) & GiftMessage.hidden_at.is_null())
        .returning(GiftMessage.id)
    )
    if not rows and not await GiftMessage.exists().where(GiftMessage.event_id == event_id):
        raise _no_message()


async def hide_message(event_id: int, *, host_id: int) -> None:
    """The host of the gift's stream hides its message; hiding a hidden one is a no-op."""

    async def work() -> None:
        row = await GiftEvent.select(GiftEvent.stream_id).where(GiftEvent.id == event_id).first()
        if row is None:
            raise DomainError(ErrorCode.NOT_FOUND, "No such gift event.", "giftEventId")
        stream = await streams.get_stream(row["stream_id"])
        if stream.host_id != host_id:
            raise DomainError(
                ErrorCode.FORBIDDEN, "Only the stream's host can hide its messages.", "giftEventId"
            )
        await _hide(event_id, f"user:{host_id}")

    await in_transaction(work)


async def hide_message_as_staff(event_id: int, *, actor: Actor, reason: str) -> None:
    """A moderator hides a gift's message, audited in the same transaction."""
    reason = reason.strip()
    if not reason or len(reason) > MAX_REASON_LENGTH:
        raise invalid_input(f"Say why in 1 to {MAX_REASON_LENGTH} characters.", "reason")

    async def work() -> None:
        await _hide(event_id, f"staff:{actor.handle}")
        await audit.record(
            actor,
            "gift.hide_message",
            target_type="gift_event",
            target_id=str(event_id),
            reason=reason,
        )

    await in_transaction(work)

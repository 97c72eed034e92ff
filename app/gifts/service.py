"""Sending gifts: the hot path from a viewer's coins to a creator's diamonds.

Guarantees
- One ``send_gift`` is one ledger operation (``ledger.run_operation``): the sender's coins go
  to their shard of the coin sink (GIFT_SENT); the gift event with its price snapshot, the
  queued credit of the host's diamonds and the stream's totals (``app.gifts.settlement``
  settles them in batches, at most a few tens of milliseconds later), the sender's
  per-stream total and combo, the day's spend counter and the idempotency key all commit
  together, or nothing does.
- Only the sender's rows are locked (spend counter, per-stream row, coin account) and their
  sink shard: gifts from different senders, to one creator or many, do not wait for each
  other.
- On PostgreSQL the whole send is one statement (``gifts_send``, a function the gifts
  migrations create from the owning packages' functions), committing on its own when no
  caller's transaction is open: one round trip. SQLite, one writer, runs the same steps
  through ``ledger.run_operation``. The two paths check and write the same things in the
  same order; every gift test runs on both.
- A gift's message (``app.gifts.messages``) is stored in the same transaction and counts
  in the idempotency fingerprint, as does the sender's ``country`` (each only when there is
  one: keys of sends without them keep their fingerprints). The fingerprint is computed
  here for both paths; ``gifts_send`` only compares it. On PostgreSQL a gift with a message
  opens a transaction around ``gifts_send`` and the message's insert; one without stays one
  statement.
- ``GiftSent`` is emitted in the transaction and heard (by the live feed, the fraud rules)
  only after it commits; never for a replay or a rolled-back gift.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from app import ledger
from app.core.clock import as_utc, utcnow
from app.core.countries import normalize_country
from app.core.database import (
    current_engine,
    domain_error_from,
    is_sqlite,
    is_transient,
    postgres_fetch,
)
from app.core.errors import DomainError, ErrorCode
from app.core.events import emit, emit_committed
from app.core.metrics import TRANSACTION_RETRIES
from app.core.tracing import traced
from app.core.transactions import in_transaction, resolve_by_key
from app.gifts import catalog, messages, settlement
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


def host_frozen() -> DomainError:
    """A frozen host earns nothing: their streams end at the freeze, and until they have,
    gifts to them are refused (as ``streams_live_host`` does on PostgreSQL)."""
    return DomainError(
        ErrorCode.STREAM_NOT_LIVE,
        "This stream has ended: its host's account is frozen pending review.",
        "streamId",
    )


def validate_quantity(quantity: int, maximum: int) -> int:
    if not 1 <= quantity <= maximum:
        raise DomainError(
            ErrorCode.INVALID_INPUT, f"Send between 1 and {maximum} at a time.", "quantity"
        )
    return quantity


@traced("gifts.send_gift")
async def send_gift(
    *,
    sender_id: int,
    stream_id: int,
    gift_id: int,
    quantity: int,
    idempotency_key: str,
    platform: SpendingSettings,
    country: str | None = None,
    message: str | None = None,
) -> SentGift:
    """Send ``quantity`` of a gift (with a short ``message``, perhaps) to a live stream's
    host, once per idempotency key.

    ``country`` is where the sender is (the app says, as for coin packages): a gift limited
    to regions is GIFT_UNAVAILABLE elsewhere or without one, as is one outside its window.
    """
    validate_quantity(quantity, platform.max_gift_quantity)
    country = normalize_country(country)
    message = messages.validate_message(message)
    request: dict[str, object] = {"stream": stream_id, "gift": gift_id, "quantity": quantity}
    if message is not None:
        request["message"] = message
    if country is not None:
        # It decides whether a regional gift may be sent: a retry from elsewhere is another
        # request (only when given, so keys of sends without one keep their fingerprints).
        request["country"] = country
    if not is_sqlite():
        if message is None:
            return await _send_in_one_statement(
                sender_id, stream_id, gift_id, quantity, idempotency_key, platform, country, request
            )

        async def with_message() -> SentGift:
            assert message is not None
            resolve_by_key(idempotency_key)  # a lost COMMIT re-runs to the replay
            return await _send_in_one_statement(
                sender_id,
                stream_id,
                gift_id,
                quantity,
                idempotency_key,
                platform,
                country,
                request,
                message,
            )

        return await in_transaction(with_message)

    async def build(operation: ledger.OpenOperation) -> ledger.Plan[GiftEventRecord]:
        sender = users.require_can_transact(await users.get_user(sender_id))
        stream = (await streams.streams_by_ids([stream_id])).get(stream_id)
        if stream is None or not stream.is_live:
            raise DomainError(ErrorCode.STREAM_NOT_LIVE, "This stream is not live.", "streamId")
        if stream.host_id == sender_id:
            raise DomainError(ErrorCode.SELF_GIFT, "You cannot send gifts to yourself.")
        if (await users.get_user(stream.host_id)).frozen:
            raise host_frozen()
        gift = catalog.require_sendable(
            (await catalog.gifts_by_ids([gift_id])).get(gift_id), utcnow(), country
        )
        coins, diamonds = gift.coin_cost * quantity, gift.diamond_value * quantity
        await spending.record_spend(sender, coins, platform=platform)
        combo = await streams.record_gift(
            stream_id=stream_id,
            sender_id=sender_id,
            gift_id=gift_id,
            coins=coins,
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
        event = GiftEventRecord(id=rows[0]["id"], **fields, message=message)
        if message is not None:
            await messages.record_message(event.id, message)
        await settlement.queue_credit(
            event_id=event.id,
            host_id=stream.host_id,
            stream_id=stream_id,
            coins=coins,
            quantity=quantity,
            diamonds=diamonds,
        )
        emit(GiftSent(event, sender.created_at))
        leg = ledger.Leg(
            TransferKind.GIFT_SENT,
            await ledger.user_account_id(sender_id, Currency.COIN),
            await ledger.system_account_id(AccountCode.COIN_SINK, sender_id),
            coins,
            f"{gift.name} x{quantity}",
        )
        return ledger.Plan([leg], str(event.id), event)

    outcome = await ledger.run_operation(
        OPERATION_KIND,
        user_id=sender_id,
        idempotency_key=idempotency_key,
        request=request,
        build=build,
    )
    if outcome.value is None:
        return SentGift(await get_event(int(outcome.result_ref or 0)), replayed=True)
    return SentGift(outcome.value)


_SEND = "SELECT * FROM gifts_send($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
# A lone statement retries its own conflicts (in_transaction retries the others').
_STATEMENT_ATTEMPTS = 8


async def _send_in_one_statement(
    sender_id: int,
    stream_id: int,
    gift_id: int,
    quantity: int,
    idempotency_key: str,
    platform: SpendingSettings,
    country: str | None,
    request: dict[str, object],
    message: str | None = None,
) -> SentGift:
    """``message``: store it too, in the caller's open transaction (``send_gift``)."""
    args = (
        sender_id,
        stream_id,
        gift_id,
        quantity,
        ledger.validate_idempotency_key(idempotency_key),
        ledger.request_fingerprint({"kind": OPERATION_KIND, **request}),
        utcnow(),
        await ledger.system_account_id(AccountCode.COIN_SINK, sender_id),
        platform.combo_window_s,
        platform.new_account_days,
        platform.new_account_daily_coins,
        country,
    )
    joined = current_engine().current_transaction.get() is not None
    for attempt in range(1, _STATEMENT_ATTEMPTS + 1):
        try:
            [row] = await postgres_fetch(_SEND, *args, resend=True)  # keyed: a resend replays
            break
        except Exception as error:
            domain = domain_error_from(error)
            if domain is not None:
                raise domain from None
            if joined or not is_transient(error) or attempt == _STATEMENT_ATTEMPTS:
                raise
            TRANSACTION_RETRIES.labels(type(error).__name__).inc()
    if row["replayed"]:
        return SentGift(await get_event(row["event_id"]), replayed=True)
    event = GiftEventRecord(
        id=row["event_id"],
        operation_id=row["operation_id"],
        stream_id=stream_id,
        gift_id=gift_id,
        gift_version_id=row["gift_version_id"],
        sender_id=sender_id,
        host_id=row["host_id"],
        quantity=quantity,
        coins=row["coins"],
        diamonds=row["diamonds"],
        combo_count=row["combo_count"],
        created_at=args[6],
        message=message,
    )
    if message is not None:
        await messages.record_message(event.id, message)
    sent = GiftSent(event, as_utc(row["sender_created_at"]))
    if joined:
        emit(sent)
    else:
        await emit_committed(sent)
    return SentGift(event)

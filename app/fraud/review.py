"""What moderators (and creators) do about suspicious gifts: report, reverse, review.

Guarantees
- ``reverse_gift`` is one ledger operation of two ADJUSTMENT transfers (coins from the coin
  sink back to the sender; diamonds from the host back to diamond issuance, even into a
  negative balance), the ``gift_reversal`` row that links it to the gift event (unique per
  event, so a gift is reversed at most once), the stream totals, the audit entry and the
  flag it closes: all in one transaction, or none of it.
- Every moderator action is audited in the transaction of its change.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from app import ledger
from app.audit import service as audit
from app.audit.service import Actor
from app.core.clock import as_utc, utcnow
from app.core.database import is_unique_violation
from app.core.errors import DomainError, ErrorCode, invalid_input
from app.core.transactions import RetryTransaction, in_transaction
from app.fraud import service as fraud
from app.fraud.codes import FlagStatus, FraudRule, Severity
from app.fraud.tables import GiftReversal
from app.gifts import messages as gift_messages
from app.gifts import queries as gift_events
from app.gifts import settlement
from app.ledger import AccountCode, Currency, TransferKind
from app.payouts import holds
from app.streams import service as streams
from app.users import service as users

OPERATION_KIND = "GIFT_REVERSAL"
# How far back a moderator may reach from a flag: the subject's newest gifts, either way.
SUBJECT_HISTORY = 500
MAX_REPORT_REASON_LENGTH = 500


# A creator reports a gift ---------------------------------------------------------------


async def report_gift(reporter_id: int, gift_event_id: int, reason: str) -> bool:
    """The host of the gift's stream reports its sender: a CREATOR_REPORT flag on the sender.

    A gift's message is evidence: its text goes into the flag as it was sent, hidden or not
    (hiding it is how a host stops others seeing it, not moderators)."""
    reason = reason.strip()
    if not reason or len(reason) > MAX_REPORT_REASON_LENGTH:
        raise invalid_input(f"Say why in 1 to {MAX_REPORT_REASON_LENGTH} characters.", "reason")
    event = await gift_events.get_event(gift_event_id)
    if event.host_id != reporter_id:
        raise DomainError(
            ErrorCode.FORBIDDEN, "Only the stream's host can report its gifts.", "giftEventId"
        )
    evidence: dict[str, object] = {
        "gift_event_id": event.id,
        "stream_id": event.stream_id,
        "reported_by": reporter_id,
        "coins": event.coins,
        "diamonds": event.diamonds,
        "sent_at": event.created_at.isoformat(),
        "reason": reason,
    }
    message = await gift_messages.message_of(event.id)
    if message is not None:
        evidence["message"] = message.message
        evidence["message_hidden"] = message.hidden_at is not None
    await in_transaction(
        lambda: fraud.raise_flag(
            event.sender_id,
            FraudRule.CREATOR_REPORT,
            Severity.MEDIUM,
            evidence,
            pattern_key=f"gift_event:{event.id}",
        )
    )
    return True


# Reversing a gift -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reversal:
    id: int
    gift_event_id: int
    operation_id: int
    reversed_by: str
    reason: str
    created_at: datetime


async def reversals_of(gift_event_ids: Sequence[int]) -> dict[int, Reversal]:
    if not gift_event_ids:
        return {}
    rows = await GiftReversal.select().where(
        GiftReversal.gift_event_id.is_in(list(set(gift_event_ids)))
    )
    return {
        row["gift_event_id"]: Reversal(
            id=row["id"],
            gift_event_id=row["gift_event_id"],
            operation_id=row["operation_id"],
            reversed_by=row["reversed_by"],
            reason=row["reason"],
            created_at=as_utc(row["created_at"]),
        )
        for row in rows
    }


async def reverse_gift(
    gift_event_id: int, *, actor: Actor, reason: str, flag_id: int | None = None
) -> Reversal:
    """Give the sender their coins back and take the host's diamonds back, once.

    ``flag_id``, when given, is closed as ACTIONED in the same transaction."""
    reason = fraud.validate_note(reason, "reason")

    async def build(operation: ledger.OpenOperation) -> ledger.Plan[int]:
        # The reversal row first: its unique index makes a concurrent reversal of the same
        # event wait here for this one, then retry and find it done.
        try:
            rows = await GiftReversal.insert(
                GiftReversal(
                    gift_event_id=event.id,
                    operation_id=operation.id,
                    flag_id=flag_id,
                    reversed_by=actor.handle,
                    reason=reason,
                    created_at=utcnow(),
                )
            ).returning(GiftReversal.id)
        except Exception as error:
            if is_unique_violation(error):
                # A concurrent reversal committed first: start over and refuse it then.
                raise RetryTransaction("gift reversed concurrently") from error
            raise
        # A gift still queued is taken off the queue: its diamonds never reach the host.
        settled = not await settlement.withdraw(event.id, event.host_id)
        await streams.unrecord_gift(
            stream_id=event.stream_id,
            sender_id=event.sender_id,
            coins=event.coins,
            quantity=event.quantity,
            in_totals=settled,
        )
        await audit.record(
            actor,
            "gift.reverse",
            target_type="gift_event",
            target_id=event.id,
            before={"reversed": False},
            after={
                "reversed": True,
                "operation_id": operation.id,
                "coins_to_sender": event.coins,
                "diamonds_from_host": event.diamonds,
            },
            reason=reason,
        )
        if flag_id is not None:
            await fraud.close_flag(flag_id, FlagStatus.ACTIONED, actor=actor, note=reason)
        accounts = await ledger.user_account_ids([event.sender_id, event.host_id])
        # The coins come back from the very sink shard the gift paid into.
        [sink] = [
            t.credit_account_id
            for t in await ledger.transfers_of(event.operation_id)
            if t.kind is TransferKind.GIFT_SENT
        ]
        description = f"Reversal of gift event #{event.id}"
        legs = [
            ledger.Leg(
                TransferKind.ADJUSTMENT,
                sink,
                accounts[event.sender_id][Currency.COIN],
                event.coins,
                f"{description}: coins back to the sender",
            ),
        ]
        if settled:
            legs.append(
                ledger.Leg(
                    TransferKind.ADJUSTMENT,
                    accounts[event.host_id][Currency.DIAMOND],
                    await ledger.system_account_id(AccountCode.DIAMOND_ISSUANCE, event.host_id),
                    event.diamonds,
                    f"{description}: diamonds back from the host",
                )
            )
        return ledger.Plan(legs, str(rows[0]["id"]), event.id)

    async def work() -> None:
        if (await reversals_of([event.id])).get(event.id) is not None:
            raise invalid_input("This gift was already reversed.", "giftEventId")
        await ledger.run_operation(OPERATION_KIND, user_id=event.sender_id, build=build)

    event = await gift_events.get_event(gift_event_id)
    await in_transaction(work)
    return (await reversals_of([event.id]))[event.id]


async def reverse_flagged_gift(
    flag_id: int, gift_event_id: int, *, actor: Actor, reason: str
) -> Reversal:
    """Reverse a gift from a flag's page: only one of the subject's last ``SUBJECT_HISTORY``
    gifts (sent or received), so a gift id edited into the form cannot reverse a stranger's
    gift under this flag. An open flag is closed as ACTIONED with the reversal."""
    flag = await fraud.get_flag(flag_id)
    involved = {
        event.id
        for event in await gift_events.events_of_user(
            flag.subject_user_id, sent=None, limit=SUBJECT_HISTORY
        )
    }
    if gift_event_id not in involved:
        raise invalid_input("Choose one of this user's gifts.", "giftEventId")
    return await reverse_gift(
        gift_event_id,
        actor=actor,
        reason=reason,
        flag_id=flag.id if flag.status is FlagStatus.OPEN else None,
    )


# Freezing and holding from a flag -------------------------------------------------------


async def freeze_from_flag(flag_id: int, *, frozen: bool, actor: Actor, reason: str) -> None:
    """Freeze (closing the flag as ACTIONED) or unfreeze the flag's subject; audited."""
    reason = fraud.validate_note(reason, "reason")
    flag = await fraud.get_flag(flag_id)

    async def work() -> None:
        await users.set_frozen(flag.subject_user_id, frozen=frozen, reason=reason, actor=actor)
        if frozen:
            await fraud.close_flag(flag_id, FlagStatus.ACTIONED, actor=actor, note=reason)

    await in_transaction(work)


async def hold_from_flag(flag_id: int, *, held: bool, actor: Actor, reason: str) -> bool:
    """Hold (closing the flag as ACTIONED) or release the subject's payouts; audited."""
    reason = fraud.validate_note(reason, "reason")
    flag = await fraud.get_flag(flag_id)

    async def work() -> bool:
        changed = await holds.set_payouts_held(
            flag.subject_user_id, held=held, actor=actor, reason=reason
        )
        if held:
            await fraud.close_flag(flag_id, FlagStatus.ACTIONED, actor=actor, note=reason)
        return changed

    return await in_transaction(work)

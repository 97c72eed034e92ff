"""Fraud flags: raise them (deduplicated), list and close them.

Rules (``app.fraud.rules``) raise flags; moderators close them (``close_flag``), each change
audited in its transaction. Holding a creator's payouts is ``app.payouts.holds``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.audit import service as audit
from app.audit.service import Actor
from app.core.clock import as_utc, utcnow
from app.core.errors import DomainError, ErrorCode, invalid_input
from app.core.paging import BROKEN_CURSOR, Page, cut_page, decode_cursor, encode_cursor
from app.core.transactions import in_transaction
from app.fraud.codes import FlagStatus, FraudRule, Severity
from app.fraud.tables import FraudFlag


async def raise_flag(
    subject_user_id: int,
    rule: FraudRule,
    severity: Severity,
    evidence: Mapping[str, object],
    *,
    pattern_key: str = "",
) -> bool:
    """Open a flag unless one is already open for this subject, rule and pattern.

    Returns whether a new flag was opened. Safe inside a caller's transaction: the
    duplicate is skipped by the database (``ON CONFLICT DO NOTHING``), never raised.
    """
    rows = await FraudFlag.raw(
        "INSERT INTO fraud_flag (subject_user_id, rule, pattern_key, severity, evidence, status, "
        "note, created_at) VALUES ({}, {}, {}, {}, {}, {}, '', {}) ON CONFLICT DO NOTHING "
        "RETURNING id",
        subject_user_id,
        rule.value,
        pattern_key,
        severity.value,
        json.dumps(evidence, default=str, sort_keys=True),
        FlagStatus.OPEN.value,
        utcnow(),
    )
    return bool(rows)


async def has_open_flag(user_id: int) -> bool:
    """Whether a suspicion about the user waits for review (auto-approval waits too)."""
    return await FraudFlag.exists().where(
        (FraudFlag.subject_user_id == user_id) & (FraudFlag.status == FlagStatus.OPEN.value)
    )


async def flag_raised_before(subject_user_id: int, rule: FraudRule, pattern_key: str) -> bool:
    """Whether this suspicion was ever raised (open or closed): a re-run of a check that must
    not re-open what a moderator already dismissed asks this first."""
    return await FraudFlag.exists().where(
        (FraudFlag.subject_user_id == subject_user_id)
        & (FraudFlag.rule == rule.value)
        & (FraudFlag.pattern_key == pattern_key)
    )


async def open_flag_count() -> int:
    return await FraudFlag.count().where(FraudFlag.status == FlagStatus.OPEN.value)


async def open_flags(user_id: int) -> list[dict]:
    return (
        await FraudFlag.select()
        .where((FraudFlag.subject_user_id == user_id) & (FraudFlag.status == FlagStatus.OPEN.value))
        .order_by(FraudFlag.id)
    )


# Reading flags for review ---------------------------------------------------------------

SEVERITY_RANK = {Severity.HIGH: 0, Severity.MEDIUM: 1, Severity.LOW: 2}


@dataclass(frozen=True, slots=True)
class FlagRecord:
    id: int
    subject_user_id: int
    rule: FraudRule
    pattern_key: str
    severity: Severity
    evidence: dict
    status: FlagStatus
    reviewer: str | None
    note: str
    created_at: datetime
    reviewed_at: datetime | None


def _flag(row: Mapping[str, Any]) -> FlagRecord:
    evidence = row["evidence"]
    if isinstance(evidence, str):
        evidence = json.loads(evidence)
    return FlagRecord(
        id=row["id"],
        subject_user_id=row["subject_user_id"],
        rule=FraudRule(row["rule"]),
        pattern_key=row["pattern_key"],
        severity=Severity(row["severity"]),
        evidence=evidence or {},
        status=FlagStatus(row["status"]),
        reviewer=row["reviewer"],
        note=row["note"],
        created_at=as_utc(row["created_at"]),
        reviewed_at=as_utc(row["reviewed_at"]) if row["reviewed_at"] else None,
    )


async def get_flag(flag_id: int) -> FlagRecord:
    row = await FraudFlag.select().where(FraudFlag.id == flag_id).first()
    if row is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such flag.", "flagId")
    return _flag(row)


def _rank(alias: str) -> str:
    return (
        f"CASE {alias}.severity WHEN 'HIGH' THEN 0 WHEN 'MEDIUM' THEN 1 ELSE 2 END, "
        f"{alias}.created_at, {alias}.id"
    )


async def list_flags(
    *,
    status: FlagStatus | None = FlagStatus.OPEN,
    rule: FraudRule | None = None,
    subject_user_id: int | None = None,
    limit: int = 50,
    after: int | None = None,
    before: int | None = None,
) -> list[FlagRecord]:
    """Most severe first, then oldest first (the longest-waiting suspicion on top).

    ``after``/``before`` name a flag already shown: the list goes on from it (keyset, so a
    flag closed meanwhile never shifts a row onto the wrong page). An unknown one is
    refused: flags are never deleted, so it is a broken link.
    """
    where = []
    args: list[object] = []
    if status is not None:
        where.append("f.status = {}")
        args.append(status.value)
    if rule is not None:
        where.append("f.rule = {}")
        args.append(rule.value)
    if subject_user_id is not None:
        where.append("f.subject_user_id = {}")
        args.append(subject_user_id)
    cursor = before if before is not None else after
    if cursor is not None:
        # Compare with the cursor flag's own stored key: no timestamp crosses the edge.
        sign = "<" if before is not None else ">"
        where.append(
            f"({_rank('f')}) {sign} "  # noqa: S608 (only "{}" placeholders are formatted in)
            f"(SELECT {_rank('c')} FROM fraud_flag c WHERE c.id = {{}})"
        )
        args.append(cursor)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    order = "DESC" if before is not None else "ASC"
    rows = await FraudFlag.raw(
        f"SELECT f.* FROM fraud_flag f {clause} ORDER BY "  # noqa: S608 (only "{}" placeholders are formatted in)
        + ", ".join(f"{key} {order}" for key in _rank("f").split(", "))
        + " LIMIT {}",
        *args,
        limit,
    )
    unknown = not rows and cursor is not None
    if unknown and not await FraudFlag.exists().where(FraudFlag.id == cursor):
        field = "before" if before is not None else "after"
        raise DomainError(ErrorCode.INVALID_INPUT, BROKEN_CURSOR, field)
    return [_flag(row) for row in rows]


async def page_of_flags(
    *,
    status: FlagStatus | None,
    rule: FraudRule | None,
    limit: int,
    after: str | None = None,
    before: str | None = None,
) -> Page[FlagRecord]:
    """One page of the review queue between cursors (a flag id) taken from the last page."""
    after_key = decode_cursor(after, 1, "after")
    before_key = decode_cursor(before, 1, "before")
    rows = await list_flags(
        status=status,
        rule=rule,
        limit=limit + 1,
        after=after_key[0] if after_key else None,
        before=before_key[0] if before_key else None,
    )
    return cut_page(
        rows,
        limit=limit,
        cursor_of=lambda flag: encode_cursor(flag.id),
        after=after_key,
        before=before_key,
    )


async def flagged_user_ids(user_ids: Sequence[int]) -> set[int]:
    """Which of these users have an open flag: one query for a whole page of creators."""
    if not user_ids:
        return set()
    rows = await FraudFlag.select(FraudFlag.subject_user_id).where(
        FraudFlag.subject_user_id.is_in(list(set(user_ids)))
        & (FraudFlag.status == FlagStatus.OPEN.value)
    )
    return {row["subject_user_id"] for row in rows}


# Closing flags --------------------------------------------------------------------------

MAX_NOTE_LENGTH = 2_000


def validate_note(note: str, field: str = "note") -> str:
    note = note.strip()
    if not note or len(note) > MAX_NOTE_LENGTH:
        raise invalid_input(f"Write a note of 1 to {MAX_NOTE_LENGTH} characters.", field)
    return note


async def close_flag(flag_id: int, to: FlagStatus, *, actor: Actor, note: str) -> bool:
    """OPEN -> DISMISSED or ACTIONED, audited, in the caller's transaction if there is one.

    Returns False (and changes nothing) when the flag was already closed."""
    if to is FlagStatus.OPEN:
        raise ValueError("a flag is closed as DISMISSED or ACTIONED")
    note = validate_note(note)

    async def work() -> bool:
        rows = await FraudFlag.raw(
            "UPDATE fraud_flag SET status = {}, reviewer = {}, note = {}, reviewed_at = {} "
            "WHERE id = {} AND status = {} RETURNING id",
            to.value,
            actor.handle,
            note,
            utcnow(),
            flag_id,
            FlagStatus.OPEN.value,
        )
        if not rows:
            await get_flag(flag_id)  # NOT_FOUND for an unknown id
            return False
        await audit.record(
            actor,
            "fraud_flag.dismiss" if to is FlagStatus.DISMISSED else "fraud_flag.action",
            target_type="fraud_flag",
            target_id=flag_id,
            before={"status": FlagStatus.OPEN.value},
            after={"status": to.value},
            reason=note,
        )
        return True

    return await in_transaction(work)


async def dismiss_flag(flag_id: int, *, actor: Actor, note: str) -> FlagRecord:
    if not await close_flag(flag_id, FlagStatus.DISMISSED, actor=actor, note=note):
        raise invalid_input("This flag is already closed.", "flagId")
    return await get_flag(flag_id)

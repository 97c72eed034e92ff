"""The audit log: who did what to which record, when and why.

``record`` must run inside the transaction of the action it describes, so the log and the
change commit together or not at all. Entries are never updated or deleted (the database
refuses it).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from app.audit.tables import AuditEntry
from app.core.clock import as_utc, utcnow
from app.core.database import current_engine


@dataclass(frozen=True, slots=True)
class Actor:
    """The staff member acting; services take this instead of a web session."""

    staff_id: int | None
    handle: str
    role: str


@dataclass(frozen=True, slots=True)
class AuditRecord:
    id: int
    actor: str
    actor_role: str
    action: str
    target_type: str
    target_id: str
    before: dict | None
    after: dict | None
    reason: str
    created_at: datetime


async def record(
    actor: Actor,
    action: str,
    *,
    target_type: str,
    target_id: str | int,
    before: Mapping[str, object] | None = None,
    after: Mapping[str, object] | None = None,
    reason: str = "",
) -> None:
    if current_engine().current_transaction.get() is None:
        raise RuntimeError("audit entries are written in the transaction of their action")
    await AuditEntry.insert(
        AuditEntry(
            staff_id=actor.staff_id,
            actor=actor.handle,
            actor_role=actor.role,
            action=action,
            target_type=target_type,
            target_id=str(target_id),
            before=_json(before),
            after=_json(after),
            reason=reason,
            created_at=utcnow(),
        )
    )


def _json(value: Mapping[str, object] | None) -> str | None:
    return None if value is None else json.dumps(value, default=str, sort_keys=True)


def _load(value: object) -> dict | None:
    if value is None or isinstance(value, dict):
        return value
    return json.loads(value)  # type: ignore[arg-type]


async def list_entries(
    *,
    limit: int,
    before_id: int | None = None,
    actor: str | None = None,
    action: str | None = None,
    target_type: str | None = None,
    target_id: str | None = None,
) -> list[AuditRecord]:
    """Newest first, filtered by any of actor, action (prefix), target."""
    query = AuditEntry.select()
    if before_id is not None:
        query = query.where(AuditEntry.id < before_id)
    if actor:
        query = query.where(AuditEntry.actor == actor)
    if action:
        query = query.where(AuditEntry.action.like(f"{action}%"))
    if target_type:
        query = query.where(AuditEntry.target_type == target_type)
    if target_id:
        query = query.where(AuditEntry.target_id == target_id)
    rows = await query.order_by(AuditEntry.id, ascending=False).limit(limit)
    return [
        AuditRecord(
            id=row["id"],
            actor=row["actor"],
            actor_role=row["actor_role"],
            action=row["action"],
            target_type=row["target_type"],
            target_id=row["target_id"],
            before=_load(row["before"]),
            after=_load(row["after"]),
            reason=row["reason"],
            created_at=as_utc(row["created_at"]),
        )
        for row in rows
    ]

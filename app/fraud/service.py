"""Fraud flags: raise them (deduplicated) and ask whether a user has one open.

Rules and moderator actions build on these two functions.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from app.core.clock import utcnow
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
    return await FraudFlag.exists().where(
        (FraudFlag.subject_user_id == user_id) & (FraudFlag.status == FlagStatus.OPEN.value)
    )


async def open_flags(user_id: int) -> list[dict]:
    return (
        await FraudFlag.select()
        .where((FraudFlag.subject_user_id == user_id) & (FraudFlag.status == FlagStatus.OPEN.value))
        .order_by(FraudFlag.id)
    )

"""Fraud flags: one open flag per subject, rule and pattern."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from app.core.migrations import sql_migration

ID = "2026-11-25T15:55:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Create fraud flags"

DDL = """
CREATE TABLE fraud_flag (
    id {pk},
    subject_user_id BIGINT NOT NULL REFERENCES coins_user (id),
    rule VARCHAR(40) NOT NULL,
    pattern_key VARCHAR(128) NOT NULL DEFAULT '',
    severity VARCHAR(16) NOT NULL,
    evidence {json} NOT NULL,
    status VARCHAR(16) NOT NULL DEFAULT 'OPEN',
    reviewer VARCHAR(64),
    note TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL,
    reviewed_at TIMESTAMPTZ
);
CREATE UNIQUE INDEX fraud_flag_one_open ON fraud_flag (subject_user_id, rule, pattern_key)
    WHERE status = 'OPEN';
CREATE INDEX fraud_flag_status ON fraud_flag (status, created_at)
"""


async def forwards() -> MigrationManager:
    return sql_migration(ID, "fraud", DESCRIPTION, DDL)

"""Gift reversals (once per gift event) and payout holds put on creators by moderators."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from app.core.migrations import sql_migration

ID = "2026-11-25T16:40:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Create gift reversals and payout holds"

DDL = """
CREATE TABLE gift_reversal (
    id {pk},
    gift_event_id BIGINT NOT NULL REFERENCES gift_event (id),
    operation_id BIGINT NOT NULL REFERENCES ledger_operation (id),
    flag_id BIGINT REFERENCES fraud_flag (id),
    reversed_by VARCHAR(64) NOT NULL,
    reason TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX gift_reversal_once ON gift_reversal (gift_event_id);
CREATE UNIQUE INDEX gift_reversal_operation ON gift_reversal (operation_id);
CREATE TABLE payout_review_hold (
    id {pk},
    creator_id BIGINT NOT NULL REFERENCES coins_user (id),
    held_by VARCHAR(64) NOT NULL,
    reason TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX payout_review_hold_creator ON payout_review_hold (creator_id)
"""


async def forwards() -> MigrationManager:
    return sql_migration(ID, "fraud", DESCRIPTION, DDL)

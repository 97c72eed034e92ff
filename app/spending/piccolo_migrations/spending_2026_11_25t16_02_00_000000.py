"""Per-user per-day spend counters and each user's own spending limits."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from app.core.migrations import sql_migration

ID = "2026-11-25T16:02:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Create spending counters and limits"

DDL = """
CREATE TABLE spending_day (
    id {pk},
    user_id BIGINT NOT NULL REFERENCES coins_user (id),
    day DATE NOT NULL,
    coins BIGINT NOT NULL DEFAULT 0,
    CHECK (coins >= 0)
);
CREATE UNIQUE INDEX spending_day_user_day ON spending_day (user_id, day);

CREATE TABLE spending_limit (
    id {pk},
    user_id BIGINT NOT NULL REFERENCES coins_user (id),
    daily BIGINT,
    weekly BIGINT,
    monthly BIGINT,
    pending_daily BIGINT,
    pending_weekly BIGINT,
    pending_monthly BIGINT,
    pending_applies_at TIMESTAMPTZ,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX spending_limit_user ON spending_limit (user_id)
"""


async def forwards() -> MigrationManager:
    return sql_migration(ID, "spending", DESCRIPTION, DDL)

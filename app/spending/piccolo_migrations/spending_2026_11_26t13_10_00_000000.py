"""Each user's own limits on money paid for coins (same shape as ``spending_limit``)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from app.core.migrations import sql_migration

ID = "2026-11-26T13:10:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Create purchase limits"

DDL = """
CREATE TABLE spending_purchase_limit (
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
CREATE UNIQUE INDEX spending_purchase_limit_user ON spending_purchase_limit (user_id)
"""


async def forwards() -> MigrationManager:
    return sql_migration(ID, "spending", DESCRIPTION, DDL)

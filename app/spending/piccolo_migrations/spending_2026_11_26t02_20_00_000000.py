"""Room on each page for the day counters' updates to stay HOT on PostgreSQL."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from app.core.migrations import sql_migration

ID = "2026-11-26T02:20:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Spending counters: fillfactor for HOT updates"


async def forwards() -> MigrationManager:
    return sql_migration(
        ID,
        "spending",
        DESCRIPTION,
        "",
        postgres_only=("ALTER TABLE spending_day SET (fillfactor = 80)",),
    )

"""Index gift events by host and time: the diamonds a creator received in the last N days
(the earnings still maturing, ``app.payouts.maturation``) are summed from this index alone,
however many gifts the creator has had."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from app.core.migrations import sql_migration

ID = "2026-11-26T13:40:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Index gift events by host and time"

DDL = """
CREATE INDEX gift_event_host_time ON gift_event (host_id, created_at)
"""


async def forwards() -> MigrationManager:
    return sql_migration(ID, "gifts", DESCRIPTION, DDL)

"""Stream totals without an index, so their batched updates stay HOT on PostgreSQL.

An index on ``coins_received`` made every update of a stream's totals write new index
entries; the live list sorts the (few) live streams instead, found by a partial index.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from app.core.migrations import sql_migration

ID = "2026-11-26T02:20:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Live streams: no index on the totals; room for HOT updates"

DDL = """
DROP INDEX live_stream_live_by_coins;
CREATE INDEX live_stream_live ON live_stream (id) WHERE status = 'LIVE'
"""

POSTGRES_ONLY = (
    "ALTER TABLE live_stream SET (fillfactor = 70)",
    "ALTER TABLE stream_gifter SET (fillfactor = 80)",
)


async def forwards() -> MigrationManager:
    return sql_migration(ID, "streams", DESCRIPTION, DDL, postgres_only=POSTGRES_ONLY)

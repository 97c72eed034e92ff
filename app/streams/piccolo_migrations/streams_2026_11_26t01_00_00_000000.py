"""Rank gifters by when they reached their total, not by a gift event id.

``record_gift`` counts a gift before its event row exists, so the tie-break is the time of
the sender's last gift; the event-id column goes.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from app.core.migrations import sql_migration

ID = "2026-11-26T01:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Rank stream gifters by coins, then by their last gift's time"

DDL = """
DROP INDEX stream_gifter_rank;
ALTER TABLE stream_gifter DROP COLUMN last_event_id;
CREATE INDEX stream_gifter_rank ON stream_gifter (stream_id, coins, last_sent_at)
"""


async def forwards() -> MigrationManager:
    return sql_migration(ID, "streams", DESCRIPTION, DDL)

"""``stream_goal``: a host's goal for a live stream (a gift and a count, or coins).

At most one goal per stream is active (``cleared_at IS NULL``, a partial unique index); a
cleared or replaced goal stays as history. ``progress`` holds what the gift settlement has
counted (in its batches, beside the stream's totals); reads add what is still queued.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from app.core.migrations import sql_migration

ID = "2026-11-26T14:10:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Stream goals"

DDL = """
CREATE TABLE stream_goal (
    id {pk},
    stream_id BIGINT NOT NULL,
    kind VARCHAR(8) NOT NULL,
    gift_id BIGINT,
    target BIGINT NOT NULL,
    progress BIGINT NOT NULL DEFAULT 0,
    title VARCHAR(120),
    started_at TIMESTAMPTZ NOT NULL,
    completed_at TIMESTAMPTZ,
    completed_by_event_id BIGINT,
    cleared_at TIMESTAMPTZ
);
CREATE UNIQUE INDEX stream_goal_active ON stream_goal (stream_id) WHERE cleared_at IS NULL
"""


async def forwards() -> MigrationManager:
    return sql_migration(ID, "streams", DESCRIPTION, DDL)

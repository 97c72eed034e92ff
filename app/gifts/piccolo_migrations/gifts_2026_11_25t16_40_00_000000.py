"""Who made each gift version: the staff handle, or NULL for the seed and scripts."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from app.core.migrations import sql_migration

ID = "2026-11-25T16:40:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Record the staff member who made a gift version"

DDL = """
ALTER TABLE gift_version ADD COLUMN created_by VARCHAR(24)
"""


async def forwards() -> MigrationManager:
    return sql_migration(ID, "gifts", DESCRIPTION, DDL)

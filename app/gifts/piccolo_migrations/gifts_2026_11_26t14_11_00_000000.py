"""``gift_message``: the short message a gift may carry, and whether its host hid it.

A table of its own rather than a ``gift_event`` column: most gifts carry none, and the
one-statement send path (``gifts_send``) stays as it is for them.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from app.core.migrations import sql_migration

ID = "2026-11-26T14:11:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Gift messages"

DDL = """
CREATE TABLE gift_message (
    id {pk},
    event_id BIGINT NOT NULL UNIQUE,
    message TEXT NOT NULL,
    hidden_at TIMESTAMPTZ,
    hidden_by VARCHAR(40)
)
"""


async def forwards() -> MigrationManager:
    return sql_migration(ID, "gifts", DESCRIPTION, DDL)

"""Staff accounts and their server-side sessions."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from app.core.migrations import sql_migration

ID = "2026-11-25T16:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Create staff users and sessions"

DDL = """
CREATE TABLE staff_user (
    id {pk},
    handle VARCHAR(24) NOT NULL,
    display_name VARCHAR(64) NOT NULL,
    password_hash TEXT NOT NULL,
    role VARCHAR(16) NOT NULL,
    failed_sign_ins INTEGER NOT NULL DEFAULT 0,
    locked_until TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL,
    CHECK (role IN ('ADMIN', 'CATALOG', 'MODERATOR', 'FINANCE'))
);
CREATE UNIQUE INDEX staff_user_handle ON staff_user (handle);

CREATE TABLE staff_session (
    id {pk},
    token_hash VARCHAR(64) NOT NULL,
    staff_id BIGINT NOT NULL REFERENCES staff_user (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL,
    last_seen_at TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX staff_session_token ON staff_session (token_hash)
"""


async def forwards() -> MigrationManager:
    return sql_migration(ID, "staff", DESCRIPTION, DDL)

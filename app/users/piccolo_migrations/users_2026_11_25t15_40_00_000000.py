"""Users: sign-up identity, birth date for the age checks, leaderboard and freeze flags."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from app.core.migrations import sql_migration

ID = "2026-11-25T15:40:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Create the user table"

DDL = """
CREATE TABLE coins_user (
    id {pk},
    handle VARCHAR(24) NOT NULL,
    display_name VARCHAR(64) NOT NULL,
    password_hash TEXT NOT NULL,
    birth_date DATE NOT NULL,
    show_on_leaderboards BOOLEAN NOT NULL DEFAULT true,
    frozen BOOLEAN NOT NULL DEFAULT false,
    frozen_reason TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX coins_user_handle_key ON coins_user (handle)
"""


async def forwards() -> MigrationManager:
    return sql_migration(ID, "users", DESCRIPTION, DDL)

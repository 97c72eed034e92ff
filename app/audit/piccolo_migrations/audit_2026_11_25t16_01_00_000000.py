"""The audit log, append-only in the database itself."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from app.core.migrations import sql_migration

ID = "2026-11-25T16:01:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Create the append-only audit log"

DDL = """
CREATE TABLE audit_entry (
    id {pk},
    staff_id BIGINT REFERENCES staff_user (id),
    actor VARCHAR(24) NOT NULL,
    actor_role VARCHAR(16) NOT NULL,
    action VARCHAR(64) NOT NULL,
    target_type VARCHAR(32) NOT NULL,
    target_id VARCHAR(64) NOT NULL,
    before {json},
    after {json},
    reason TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX audit_entry_target ON audit_entry (target_type, target_id);
CREATE INDEX audit_entry_actor ON audit_entry (actor, id)
"""

SQLITE = [
    "CREATE TRIGGER audit_entry_no_update BEFORE UPDATE ON audit_entry "
    "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
    "CREATE TRIGGER audit_entry_no_delete BEFORE DELETE ON audit_entry "
    "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
]
POSTGRES = [
    "CREATE FUNCTION audit_entry_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$",
    "CREATE TRIGGER audit_entry_append_only BEFORE UPDATE OR DELETE ON audit_entry "
    "FOR EACH ROW EXECUTE FUNCTION audit_entry_append_only()",
]


async def forwards() -> MigrationManager:
    return sql_migration(ID, "audit", DESCRIPTION, DDL, sqlite_only=SQLITE, postgres_only=POSTGRES)

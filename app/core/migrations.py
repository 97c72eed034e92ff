"""Hand-written DDL that runs on SQLite and PostgreSQL alike.

Piccolo's auto migrations do not support SQLite, so each migration states its tables in
SQL with a few dialect tokens:

- ``{pk}``: an auto-incrementing 64-bit primary key that never reuses an id;
- ``{json}``: a JSON document column.

Column types otherwise use the names Piccolo's SQLite converters know (TIMESTAMPTZ, DATE,
BOOLEAN), so values come back as Python objects on both databases. Statements that only
make sense on one engine (triggers have different languages) go in ``sqlite_only`` or
``postgres_only``, one complete statement per item.
"""

from __future__ import annotations

from collections.abc import Sequence

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from app.core.database import current_engine, is_sqlite

_DIALECTS = {
    "sqlite": {"pk": "INTEGER PRIMARY KEY AUTOINCREMENT", "json": "JSON"},
    "postgres": {"pk": "BIGSERIAL PRIMARY KEY", "json": "JSONB"},
}


def render(ddl: str) -> list[str]:
    tokens = _DIALECTS["sqlite" if is_sqlite() else "postgres"]
    rendered = ddl.replace("{pk}", tokens["pk"]).replace("{json}", tokens["json"])
    return [statement.strip() for statement in rendered.split(";") if statement.strip()]


def sql_migration(
    migration_id: str,
    app_name: str,
    description: str,
    ddl: str,
    *,
    sqlite_only: Sequence[str] = (),
    postgres_only: Sequence[str] = (),
) -> MigrationManager:
    """A Piccolo migration that runs ``ddl`` (statements separated by ``;``) in one transaction."""
    manager = MigrationManager(
        migration_id=migration_id, app_name=app_name, description=description
    )

    async def run() -> None:
        engine = current_engine()
        statements = render(ddl) + list(sqlite_only if is_sqlite() else postgres_only)
        for statement in statements:
            await engine.run_ddl(statement)

    manager.add_raw(run)
    return manager

"""The database engine: SQLite file or PostgreSQL, chosen by settings and swappable in tests.

Piccolo binds each table to an engine; ``use_engine`` points every registered table (and
Piccolo's own migration table) at one engine, so the app, the CLI and each test choose
their database explicitly instead of through import-time globals. Until one is chosen, the
first query opens the one the environment names (Piccolo's CLI relies on that through
``app.piccolo_conf``).
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import asyncpg
from piccolo.apps.migrations.tables import Migration
from piccolo.conf.apps import Finder
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine

from app.core.errors import DomainError, ErrorCode
from app.settings import DatabaseSettings, Settings

os.environ.setdefault("PICCOLO_CONF", "app.piccolo_conf")

SQLITE_BUSY_TIMEOUT_S = 30.0

_engine: Engine | None = None
_retry_attempts: int = DatabaseSettings.retry_attempts


def create_engine(settings: DatabaseSettings) -> Engine:
    """Open the database ``settings`` name; a SQLite file's directory is made here, not before."""
    if settings.is_postgres:
        return PostgresEngine(config={"dsn": settings.url})
    path = settings.sqlite_path
    path.parent.mkdir(parents=True, exist_ok=True)
    return SQLiteEngine(path=str(path), timeout=SQLITE_BUSY_TIMEOUT_S)


def use_engine(engine: Engine, retry_attempts: int = DatabaseSettings.retry_attempts) -> None:
    """Make ``engine`` the one every table, query and migration uses from now on.

    ``in_transaction`` runs a unit of work up to ``retry_attempts`` times on it.
    """
    global _engine, _retry_attempts
    _engine, _retry_attempts = engine, retry_attempts
    for table in (*Finder().get_table_classes(), Migration):
        table._meta.db = engine


def current_engine() -> Engine:
    """The engine in use; until one is chosen, the one ``COINS_DATABASE_URL`` names."""
    if _engine is None:
        settings = Settings.from_env().database
        use_engine(create_engine(settings), settings.retry_attempts)
    assert _engine is not None
    return _engine


def transaction_attempts() -> int:
    """How many times a transaction meeting transient conflicts runs (``DatabaseSettings``)."""
    return _retry_attempts


def is_sqlite(engine: Engine | None = None) -> bool:
    return isinstance(engine or current_engine(), SQLiteEngine)


async def _keep_session(connection: asyncpg.Connection) -> None:
    """What a released connection needs beyond asyncpg's own rollback of an open transaction:
    nothing. The app never changes session state (no SET, LISTEN, advisory locks or cursors
    outside a transaction), so the default ``RESET ALL`` round trip on every release is
    skipped."""


async def open_pool(engine: Engine, max_size: int) -> None:
    """A connection pool for PostgreSQL; ``max_size`` 0 means a connection per query."""
    if isinstance(engine, PostgresEngine) and max_size > 0:
        await engine.start_connection_pool(min_size=1, max_size=max_size, reset=_keep_session)


async def close_pool(engine: Engine) -> None:
    if isinstance(engine, PostgresEngine) and engine.pool is not None:
        await engine.close_connection_pool()


def is_unique_violation(error: BaseException) -> bool:
    if isinstance(error, asyncpg.UniqueViolationError):
        return True
    return isinstance(error, sqlite3.IntegrityError) and "UNIQUE" in str(error)


async def postgres_fetch(sql: str, *args: object) -> list[asyncpg.Record]:
    """One PostgreSQL statement (``$1`` placeholders) straight to asyncpg, which prepares it
    once per connection: for the hottest statement, without the query builder's per-call
    work. In the caller's transaction when one is open, else committed on its own."""
    engine = current_engine()
    if not isinstance(engine, PostgresEngine):
        raise RuntimeError("postgres_fetch needs PostgreSQL")
    transaction = engine.current_transaction.get()
    if transaction is not None:
        return await transaction.connection.fetch(sql, *args)
    if engine.pool is not None:
        async with engine.pool.acquire() as connection:
            return await connection.fetch(sql, *args)
    connection = await engine.get_new_connection()
    try:
        return await connection.fetch(sql, *args)
    finally:
        await connection.close()


# What the server-side functions raise for a DomainError (see coins_domain_error).
DOMAIN_ERROR_SQLSTATE = "CN001"


def domain_error_from(error: BaseException) -> DomainError | None:
    """The DomainError a server-side function raised (code in DETAIL, field in HINT)."""
    if getattr(error, "sqlstate", None) != DOMAIN_ERROR_SQLSTATE:
        return None
    return DomainError(
        ErrorCode(getattr(error, "detail", "")),
        getattr(error, "message", None) or str(error),
        getattr(error, "hint", None) or None,
    )


def is_transient(error: BaseException) -> bool:
    """Conflicts that a retry of the whole transaction resolves; never a user's fault."""
    if isinstance(
        error,
        asyncpg.SerializationError | asyncpg.DeadlockDetectedError | asyncpg.LockNotAvailableError,
    ):
        return True
    if isinstance(error, sqlite3.OperationalError):
        text = str(error).lower()
        return "locked" in text or "busy" in text
    return False


def sqlite_file(engine: Engine) -> Path | None:
    return Path(engine.path) if isinstance(engine, SQLiteEngine) else None

"""The database engine: SQLite file or PostgreSQL, chosen by settings and swappable in tests.

Piccolo binds each table to an engine; ``use_engine`` points every registered table (and
Piccolo's own migration table) at one engine, so the app, the CLI and each test choose
their database explicitly instead of through import-time globals.
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

from app.settings import DatabaseSettings

os.environ.setdefault("PICCOLO_CONF", "app.piccolo_conf")

SQLITE_BUSY_TIMEOUT_S = 30.0


def create_engine(settings: DatabaseSettings) -> Engine:
    if settings.is_postgres:
        return PostgresEngine(config={"dsn": settings.url})
    path = settings.sqlite_path
    path.parent.mkdir(parents=True, exist_ok=True)
    return SQLiteEngine(path=str(path), timeout=SQLITE_BUSY_TIMEOUT_S)


def use_engine(engine: Engine) -> None:
    """Make ``engine`` the one every table, query and migration uses from now on."""
    from app import piccolo_conf

    piccolo_conf.DB = engine
    for table in (*Finder().get_table_classes(), Migration):
        table._meta.db = engine


def current_engine() -> Engine:
    from app import piccolo_conf

    return piccolo_conf.DB


def is_sqlite(engine: Engine | None = None) -> bool:
    return isinstance(engine or current_engine(), SQLiteEngine)


async def open_pool(engine: Engine, max_size: int) -> None:
    """A connection pool for PostgreSQL; ``max_size`` 0 means a connection per query."""
    if isinstance(engine, PostgresEngine) and max_size > 0:
        await engine.start_connection_pool(min_size=1, max_size=max_size)


async def close_pool(engine: Engine) -> None:
    if isinstance(engine, PostgresEngine) and engine.pool is not None:
        await engine.close_connection_pool()


def is_unique_violation(error: BaseException) -> bool:
    if isinstance(error, asyncpg.UniqueViolationError):
        return True
    return isinstance(error, sqlite3.IntegrityError) and "UNIQUE" in str(error)


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

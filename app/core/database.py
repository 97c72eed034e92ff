"""The database engine: SQLite file or PostgreSQL, chosen by settings and swappable in tests.

Piccolo binds each table to an engine; ``use_engine`` points every registered table (and
Piccolo's own migration table) at one engine, so the app, the CLI and each test choose
their database explicitly instead of through import-time globals. Until one is chosen, the
first query opens the one the environment names (Piccolo's CLI relies on that through
``app.piccolo_conf``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import structlog
from piccolo.apps.migrations.tables import Migration
from piccolo.conf.apps import Finder
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine as PiccoloPostgresEngine
from piccolo.engine.postgres import PostgresTransaction
from piccolo.engine.sqlite import SQLiteEngine

from app.core.errors import DomainError, ErrorCode
from app.settings import DatabaseSettings, Settings

os.environ.setdefault("PICCOLO_CONF", "app.piccolo_conf")

T = TypeVar("T")
log = structlog.get_logger(__name__)

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


def rows_source(columns: Sequence[tuple[str, Sequence[object]]]) -> tuple[str, list[object]]:
    """A derived table ``v`` of rows given column by column, as (SQL type, values), with
    columns ``v.column1``... for a bulk UPDATE ... FROM; and its arguments.

    On PostgreSQL one array per column: the statement's text is the same for any number
    of rows (asyncpg prepares it once) and no placeholder is built per value. SQLite has
    no arrays: a VALUES list, whose columns it names the same way."""
    if is_sqlite():
        row = ", ".join(f"CAST({{}} AS {sql_type})" for sql_type, _ in columns)
        count = len(columns[0][1])
        args = [values[n] for n in range(count) for _, values in columns]
        return f"(VALUES {', '.join(f'({row})' for _ in range(count))}) AS v", args
    arrays = ", ".join(f"{{}}::{sql_type}[]" for sql_type, _ in columns)
    names = ", ".join(f"column{n}" for n in range(1, len(columns) + 1))
    return f"unnest({arrays}) AS v ({names})", [list(values) for _, values in columns]


async def _keep_session(connection: asyncpg.Connection) -> None:
    """What a released connection needs beyond asyncpg's own rollback of an open transaction:
    nothing. The app never changes session state (no SET, LISTEN, advisory locks or cursors
    outside a transaction), so the default ``RESET ALL`` round trip on every release is
    skipped."""


async def open_pool(engine: Engine, max_size: int) -> None:
    """A connection pool for PostgreSQL; ``max_size`` 0 means a connection per query."""
    if isinstance(engine, PiccoloPostgresEngine) and max_size > 0:
        await engine.start_connection_pool(min_size=1, max_size=max_size, reset=_keep_session)


POOL_CLOSE_TIMEOUT_S = 5.0


async def close_pool(engine: Engine, timeout_s: float = POOL_CLOSE_TIMEOUT_S) -> None:
    """Close the pool gracefully, or terminate it after ``timeout_s``: a connection stuck
    on a dead socket must not keep the process from exiting."""
    if isinstance(engine, PiccoloPostgresEngine) and engine.pool is not None:
        pool, engine.pool = engine.pool, None
        try:
            await asyncio.wait_for(pool.close(), timeout_s)
        except TimeoutError:
            log.warning("database.pool_terminated", timeout_s=timeout_s)
            pool.terminate()


# Connection loss ------------------------------------------------------------------------
#
# A database restart, a failover or an idle-killer ends backends under the app. What was
# lost decides what is safe: a statement that never reached the server, a read, or a
# transaction that had not sent COMMIT can run again on another connection (the server
# rolls back what a dead backend left open); a write whose answer was lost may or may not
# have committed, and only an idempotency key can tell (``in_transaction``).


class DatabaseUnavailable(DomainError):
    """The database could not be reached or kept, after retrying: try again later."""

    def __init__(
        self,
        message: str = (
            "The database is briefly unavailable. Try again, with the same idempotency key "
            "where the request has one."
        ),
    ) -> None:
        super().__init__(ErrorCode.SERVICE_UNAVAILABLE, message)


class OutcomeUnknown(DatabaseUnavailable):
    """The connection died while a write without an idempotency key was committing: it may
    have taken effect. Never retried blindly; the client checks, then tries again."""

    def __init__(self) -> None:
        super().__init__(
            "The connection to the database was lost while saving this, so it may or may not "
            "have been saved. Check, then try again."
        )


_LOST = (
    asyncpg.PostgresConnectionError,  # 08xxx, ConnectionDoesNotExistError among them
    asyncpg.AdminShutdownError,  # 57P01: pg_terminate_backend, a fast shutdown
    asyncpg.CrashShutdownError,
    asyncpg.CannotConnectNowError,  # 57P03: starting up or shutting down
    asyncpg.TooManyConnectionsError,  # 53300: every server slot taken, e.g. while reconnecting
    ConnectionError,  # reset, refused, aborted: raised by asyncpg's socket as is
)


def is_connection_lost(error: BaseException) -> bool:
    """The connection died or cannot be used; the statement's fate depends on when."""
    if isinstance(error, _LOST):
        return True
    if isinstance(error, asyncpg.InterfaceError):
        text = str(error)
        return "closed" in text or "released back to the pool" in text
    # A backend killed while idle: its connection can be handed out before asyncpg has
    # read the end of the socket, and refuses to start the next statement.
    return isinstance(error, asyncpg.InternalClientError) and "in progress" in str(error)


def lost_before_sending(error: BaseException) -> bool:
    """The statement never reached the server: safe to send again, whatever it does."""
    refused = asyncpg.CannotConnectNowError | asyncpg.TooManyConnectionsError  # at connect
    if isinstance(error, asyncpg.InternalClientError | refused):
        return True
    if isinstance(error, ConnectionRefusedError):
        return True  # connecting failed
    return isinstance(error, asyncpg.InterfaceError) and "connection is closed" in str(error)


_WRITES = re.compile(
    r"\b(INSERT|UPDATE|DELETE|MERGE|TRUNCATE|FOR\s+(NO\s+KEY\s+)?UPDATE|FOR\s+(KEY\s+)?SHARE)\b",
    re.IGNORECASE,
)


def is_read_only(sql: str) -> bool:
    """A plain SELECT that writes and locks nothing (server-side functions that write, such
    as ``gifts_send``, are called through ``postgres_fetch``, which never re-sends)."""
    return sql.lstrip()[:6].upper() == "SELECT" and _WRITES.search(sql) is None


# Attempts of a statement outside a transaction that lost its connection: several dead
# idle connections can be handed out in a row right after a restart, and the pause before
# each new attempt lets asyncpg see the others' sockets close first.
STATEMENT_ATTEMPTS = 4


async def pause_before_retry(attempt: int) -> None:
    await asyncio.sleep(min(0.2, 0.005 * 2**attempt) * (0.5 + random.random()))  # noqa: S311


def _discard(connection: Any) -> None:
    """Drop a broken connection, so that the pool opens a fresh one in its slot."""
    with contextlib.suppress(asyncpg.InterfaceError):  # asyncpg took it back when it closed
        connection.terminate()


async def _on_a_connection(
    engine: PiccoloPostgresEngine, run: Callable[[asyncpg.Connection], Awaitable[T]]
) -> T:
    if engine.pool is not None:
        async with engine.pool.acquire() as connection:
            try:
                return await run(connection)
            except BaseException as error:
                if is_connection_lost(error):
                    _discard(connection)
                raise
    connection = await engine.get_new_connection()
    try:
        return await run(connection)
    finally:
        if connection.is_closed():
            _discard(connection)
        else:
            await connection.close()


async def run_statement(
    engine: PiccoloPostgresEngine,
    sql: str,
    args: Sequence[object],
    *,
    resend: bool | None = None,
) -> list[asyncpg.Record]:
    """One statement outside any transaction, sent again on another connection when the
    connection is lost, if that is safe (``resend``: by default, when it only reads).
    A write whose answer was lost raises ``OutcomeUnknown``; a database still unreachable
    after the attempts, ``DatabaseUnavailable``."""
    safe = is_read_only(sql) if resend is None else resend
    for attempt in range(1, STATEMENT_ATTEMPTS + 1):
        try:
            return await _on_a_connection(engine, lambda c: c.fetch(sql, *args))
        except Exception as error:
            if not is_connection_lost(error):
                raise
            if not (safe or lost_before_sending(error)):
                raise OutcomeUnknown() from error
            if attempt == STATEMENT_ATTEMPTS:
                raise DatabaseUnavailable() from error
            log.info("database.statement_retry", attempt=attempt, reason=type(error).__name__)
            await pause_before_retry(attempt)
    raise AssertionError("unreachable")


class PooledTransaction(PostgresTransaction):
    """Piccolo's transaction, made safe against a connection that dies under it.

    Piccolo skips releasing the connection (and resetting its current transaction) when
    the rollback or the commit raises, which a dead connection always does: the slot stays
    taken for good and the task's later queries go to the dead connection. Here the
    connection goes back (or is dropped) whatever happens, and a COMMIT that lost its
    answer is told apart (``CommitOutcomeUnknown``) from a failure before it.
    """

    async def __aenter__(self) -> PostgresTransaction:
        if self._parent is not None:
            return self._parent
        self.connection = await self.get_connection()
        try:
            self.transaction = self.connection.transaction()
            await self.begin()
        except BaseException:
            await self._give_back(broken=True)
            raise
        self.context = self.engine.current_transaction.set(self)
        return self

    async def __aexit__(self, exception_type: Any, exception: Any, traceback: Any) -> bool:
        if self._parent is not None:
            return exception is None
        broken = False
        try:
            if exception is not None:
                if not self._rolled_back:
                    try:
                        await self.rollback()
                    except Exception:
                        # Closed or broken: a backend that ends rolls its transaction back.
                        broken = True
            elif not self._committed and not self._rolled_back:
                try:
                    await self.commit()
                except Exception as error:
                    if is_connection_lost(error):
                        broken = True
                        raise CommitOutcomeUnknown() from error
                    raise
        finally:
            self.engine.current_transaction.reset(self.context)
            await self._give_back(broken=broken or is_connection_lost(exception))
        return exception is None

    async def _give_back(self, *, broken: bool) -> None:
        if broken:
            _discard(self.connection)
        if self.engine.pool is not None:
            await self.engine.pool.release(self.connection)  # a no-op once discarded
        elif not self.connection.is_closed():
            await self.connection.close()


class CommitOutcomeUnknown(Exception):
    """COMMIT was sent and its answer lost: the transaction may or may not have committed."""


# Piccolo's engine asks the server for its version and its extensions when it is built,
# each on a new connection with asyncpg's 60 s connect timeout: on a hung database the app
# would not even start, and its /readyz could not say why. Bounded here.
ENGINE_CHECK_TIMEOUT_S = 2.0


class PostgresEngine(PiccoloPostgresEngine):
    """Piccolo's engine with transactions that survive a dead connection and plain
    statements that move to another connection when theirs dies (``run_statement``)."""

    async def check_version(self) -> None:
        await self._bounded(super().check_version(), "version")

    async def prep_database(self) -> None:
        await self._bounded(super().prep_database(), "extensions")

    @staticmethod
    async def _bounded(check: Awaitable[None], what: str) -> None:
        try:
            async with asyncio.timeout(ENGINE_CHECK_TIMEOUT_S):
                await check
        except TimeoutError:
            log.warning("database.check_timed_out", check=what)

    def transaction(self, allow_nested: bool = True) -> PooledTransaction:
        return PooledTransaction(engine=self, allow_nested=allow_nested)

    async def _run_in_pool(self, query: str, args: Sequence[Any] | None = None) -> Any:
        return await run_statement(self, query, args or ())

    async def _run_in_new_connection(self, query: str, args: Sequence[Any] | None = None) -> Any:
        return await run_statement(self, query, args or ())


def is_unique_violation(error: BaseException) -> bool:
    if isinstance(error, asyncpg.UniqueViolationError):
        return True
    return isinstance(error, sqlite3.IntegrityError) and "UNIQUE" in str(error)


async def postgres_fetch(sql: str, *args: object, resend: bool = False) -> list[asyncpg.Record]:
    """One PostgreSQL statement (``$1`` placeholders) straight to asyncpg, which prepares it
    once per connection: for the hottest statement, without the query builder's per-call
    work. In the caller's transaction when one is open, else committed on its own, and then
    sent again on another connection if its connection dies, when ``resend`` says that is
    safe (a statement keyed by an idempotency key finds its first result)."""
    engine = current_engine()
    if not isinstance(engine, PiccoloPostgresEngine):
        raise RuntimeError("postgres_fetch needs PostgreSQL")
    transaction = engine.current_transaction.get()
    if transaction is not None:
        return await transaction.connection.fetch(sql, *args)
    return await run_statement(engine, sql, args, resend=resend)


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

"""Every test that touches the database runs twice: on SQLite and on PostgreSQL.

PostgreSQL comes from ``COINS_TEST_POSTGRES_URL``. When it is unset or unreachable those
runs skip, except under ``CI=true``, where they fail: CI must prove both databases.
After each test the ledger is verified; a test that tampers with it on purpose says so
with ``@pytest.mark.tampers``.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import warnings
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import asyncpg
import pytest
from argon2 import PasswordHasher
from litestar.testing import AsyncTestClient
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine as PiccoloPostgresEngine

from app.core import database as database_module
from app.core.clock import set_clock
from app.core.database import close_pool, create_engine, open_pool, use_engine
from app.settings import AuthSettings, DatabaseSettings, Settings

if TYPE_CHECKING:
    from app.ledger.verify import Report

T = TypeVar("T")
POSTGRES_URL = os.environ.get("COINS_TEST_POSTGRES_URL", "")
IN_CI = os.environ.get("CI", "").lower() == "true"


def run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code, on a thread with its own event loop.

    Sync fixtures and browser tests use this: Playwright's sync API keeps an event loop
    running on the main thread, where ``asyncio.run`` would refuse to start.
    """
    with ThreadPoolExecutor(max_workers=1) as executor:
        return executor.submit(asyncio.run, coroutine).result()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "tampers: the test breaks the ledger on purpose")


@pytest.fixture(autouse=True, scope="session")
def _cheap_password_hashing() -> Iterator[None]:
    """Real argon2, with parameters cheap enough for hundreds of sign-ups."""
    from app.users import passwords

    original = passwords._hasher
    passwords._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    yield
    passwords._hasher = original


@pytest.fixture(autouse=True)
def _subscribers() -> Iterator[None]:
    """The after-commit subscribers an app wires (fraud rules, auto-approval when its
    settings say so), with default settings; a test with its own uses ``subscribed``."""
    from app import wiring

    unsubscribe = wiring.subscribe(Settings(env="test"))
    yield
    unsubscribe()


@pytest.fixture(autouse=True)
async def _pools_closed(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[None]:
    """Every PostgreSQL pool a test opens is closed when it ends, on its own event loop.
    Left open, a test's pool of 20 kept 20 idle connections until its worker exited: a
    run held 60 of the server's 100 and later tests (and everyone else) found none."""
    opened: list[PiccoloPostgresEngine] = []
    start = PiccoloPostgresEngine.start_connection_pool

    async def tracked(self: PiccoloPostgresEngine, **kwargs: Any) -> None:
        await start(self, **kwargs)
        opened.append(self)

    monkeypatch.setattr(PiccoloPostgresEngine, "start_connection_pool", tracked)
    yield
    for engine in opened:
        await close_pool(engine)
    engine = database_module._engine
    # Only this worker's test database (a test may point the engine at a fake server).
    if (
        isinstance(engine, PiccoloPostgresEngine)
        and POSTGRES_URL
        and (engine.config["dsn"] == _worker_database_url(POSTGRES_URL))
    ):
        left = await _sessions_left(engine.config["dsn"])
        assert not left, f"the test left database sessions open: {left}"


@pytest.fixture(autouse=True)
def _wall_clock() -> Iterator[None]:
    yield
    set_clock(None)


async def _migrate() -> None:
    from piccolo.apps.migrations.commands.forwards import run_forwards

    from app.ledger import ensure_system_accounts

    result = await run_forwards("all")
    assert result.success, result.message
    await ensure_system_accounts()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "coins.sqlite3"
    use_engine(create_engine(DatabaseSettings(url=f"sqlite:///{path}")))
    run_sync(_migrate())
    return path


def _worker_database_url(url: str) -> str:
    """Under pytest-xdist each worker gets its own database next to the configured one."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return url
    base, _, name = url.rpartition("/")
    return f"{base}/{name.split('?')[0]}_{worker}"


async def _create_database(url: str, worker_url: str) -> None:
    if worker_url == url:
        return
    name = worker_url.rpartition("/")[2]
    connection = await asyncpg.connect(url, timeout=5)
    try:
        exists = await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """A migrated PostgreSQL database, or a skip (a failure in CI)."""
    if not POSTGRES_URL:
        if IN_CI:
            pytest.fail("CI=true but COINS_TEST_POSTGRES_URL is not set")
        pytest.skip("COINS_TEST_POSTGRES_URL is not set")
    url = _worker_database_url(POSTGRES_URL)

    async def reset_schema() -> None:
        await _create_database(POSTGRES_URL, url)
        connection = await asyncpg.connect(url, timeout=5)
        try:
            # This worker's database is its own: whatever else is connected is left over
            # from an earlier run and would hold the DROP forever.
            await _end_other_sessions(connection)
            await connection.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        finally:
            await connection.close()

    try:
        run_sync(reset_schema())
    except (OSError, asyncpg.PostgresError, TimeoutError) as error:
        if IN_CI:
            pytest.fail(f"PostgreSQL at COINS_TEST_POSTGRES_URL is unreachable: {error}")
        pytest.skip(f"PostgreSQL unreachable: {error}")
    use_engine(create_engine(DatabaseSettings(url=url)))
    run_sync(_migrate())
    run_sync(_remember_blank(url))
    return url


@dataclass(frozen=True)
class _Blank:
    """What a blank test database holds, read once a session: the registered tables (not
    Piccolo's migration log), their sequences, and the system accounts migrating created."""

    tables: list[str]
    sequences: list[str]
    columns: list[str]
    accounts: list[asyncpg.Record]
    may_skip_triggers: bool


_blanks: dict[str, _Blank] = {}


async def _remember_blank(url: str) -> None:
    from piccolo.conf.apps import Finder

    tables = [t._meta.tablename for t in Finder().get_table_classes()]
    connection = await asyncpg.connect(url, timeout=10)
    try:
        sequences = await connection.fetch(
            """SELECT DISTINCT s.oid::regclass::text AS name FROM pg_class s
            JOIN pg_depend d ON d.objid = s.oid AND d.classid = 'pg_class'::regclass
            JOIN pg_class t ON t.oid = d.refobjid AND d.refclassid = 'pg_class'::regclass
            WHERE s.relkind = 'S' AND t.relname = ANY($1::text[])""",
            tables,
        )
        accounts = await connection.fetch("SELECT * FROM ledger_account ORDER BY id")
        may_skip_triggers = await connection.fetchval(
            "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"
        )
    finally:
        await connection.close()
    columns = list(accounts[0].keys())
    names = [r["name"] for r in sequences]
    _blanks[url] = _Blank(tables, names, columns, accounts, may_skip_triggers)


async def _truncate_postgres(url: str) -> None:
    """Return the database to what migrating left: every registered table emptied with its
    ids restarted (as ``TRUNCATE ... RESTART IDENTITY`` would), and the system accounts.

    The accounts are copied back as migrating created them (``ensure_system_accounts`` ran
    once, in ``_migrate``): creating them again cost ~100 connections a test. Rows are
    deleted with triggers off (the audit log refuses deletes, as TRUNCATE ignores): on a few
    rows that is ~100 times faster than TRUNCATE, which rewrites every table and index.
    A role that may not turn triggers off truncates instead.
    """
    blank = _blanks[url]
    restart = ", ".join(f"setval('{s}', 1, false)" for s in blank.sequences)
    connection = await asyncpg.connect(url, timeout=10)
    try:
        await connection.execute("SET lock_timeout = '10s'")
        try:
            await _empty(connection, blank, restart)
        except asyncpg.LockNotAvailableError:
            # An earlier test left a transaction open (a failed test's connection): it
            # would block every later test's reset, and the run would hang to CI's limit.
            leftovers = await _end_other_sessions(connection)
            warnings.warn(f"ended sessions an earlier test left open: {leftovers}", stacklevel=1)
            await _empty(connection, blank, restart)
        await connection.copy_records_to_table(
            "ledger_account", records=blank.accounts, columns=blank.columns
        )
        await connection.execute(
            "SELECT setval(pg_get_serial_sequence('ledger_account', 'id'), max(id)) "
            "FROM ledger_account"
        )
    finally:
        await connection.close()


async def _empty(connection: asyncpg.Connection, blank: _Blank, restart: str) -> None:
    if not blank.may_skip_triggers:
        await connection.execute(f"TRUNCATE {', '.join(blank.tables)} RESTART IDENTITY CASCADE")
        return
    async with connection.transaction():
        await connection.execute("SET LOCAL session_replication_role = replica")
        # The names are the registered tables', not input.
        deletes = "; ".join(f"DELETE FROM {table}" for table in blank.tables)  # noqa: S608
        await connection.execute(f"{deletes}; SELECT {restart}")


async def _end_other_sessions(connection: asyncpg.Connection) -> list[str]:
    """Terminate every other session on this connection's database; what they were doing."""
    rows = await connection.fetch(
        """SELECT pg_terminate_backend(pid), state, left(query, 120) AS query
        FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"""
    )
    return [f"{row['state']}: {row['query']}" for row in rows]


@dataclass(frozen=True)
class Database:
    backend: str
    url: str

    def settings(self, **overrides: object) -> Settings:
        values: dict[str, object] = {
            "env": "test",
            # No pool: the test client serves requests on its own event loop, and the
            # test body queries on another; a pool belongs to exactly one loop.
            "database": DatabaseSettings(url=self.url, pool_max_size=0),
            "auth": AuthSettings(jwt_secret="test-secret-that-is-long-enough-0123456789"),
        }
        values.update(overrides)
        return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A fresh, migrated database of each kind; the ledger is verified after the test."""
    yield from fresh_database(request, tmp_path)


def fresh_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """``db``'s work, for a directory whose ``db`` takes fewer kinds (``request.param``)."""
    if request.param == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        path = tmp_path / "coins.sqlite3"
        shutil.copy(template, path)
        database = Database("sqlite", f"sqlite:///{path}")
        use_engine(create_engine(DatabaseSettings(url=database.url)))
    else:
        url = request.getfixturevalue("postgres_url")
        database = Database("postgres", url)
        use_engine(create_engine(DatabaseSettings(url=url)))
        run_sync(_truncate_postgres(url))
    yield database
    if request.node.get_closest_marker("tampers") is None:
        engine = create_engine(DatabaseSettings(url=database.url))
        use_engine(engine)
        report = run_sync(_verified(engine))
        assert report.ok, "ledger invariants broken:\n" + "\n".join(map(str, report.breaches))


async def _verified(engine: Engine) -> Report:
    """``verify_all`` on one connection (on PostgreSQL: a query each would open its own)."""
    from app.integrity import verify_all

    await open_pool(engine, 1)
    try:
        return await verify_all()
    finally:
        await close_pool(engine)


async def _sessions_left(url: str) -> list[str]:
    """Other sessions on this database: what a test must not leave behind (they hold
    connection slots, and an open transaction's locks block the next test's TRUNCATE)."""
    connection = await asyncpg.connect(url, timeout=10)
    try:
        rows = await connection.fetch(
            """SELECT left(query, 120) AS query FROM pg_stat_activity
            WHERE datname = current_database() AND pid <> pg_backend_pid()
            AND backend_type = 'client backend'"""
        )
    finally:
        await connection.close()
    return [row["query"] for row in rows]


@pytest.fixture
def settings(db: Database) -> Settings:
    return db.settings()


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[AsyncTestClient]:
    from app.main import create_app

    async with AsyncTestClient(create_app(settings)) as test_client:
        yield test_client

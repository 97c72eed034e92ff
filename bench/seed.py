"""The benchmark's own database: created if missing, emptied, migrated and seeded.

Migrated by ``coins migrate`` itself (a subprocess), so it has exactly the tables, indexes
and system accounts production gets. Users are inserted with SQL, with an unusable
password hash (no argon2: they never log in; their tokens come from
``app.users.tokens.issue_token``); their ledger accounts are opened, the viewers funded and
the streams started through the app's own service functions, so ``ledger verify`` holds
from the start. The floor's two tables (``bench_floor_*``) live beside the app's.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import timedelta
from fractions import Fraction
from urllib.parse import urlsplit, urlunsplit

from app.core.clock import utcnow
from app.core.database import close_pool, create_engine, open_pool, use_engine
from app.settings import Settings
from bench import pg

# Never the CI database, nor an engineer's: the benchmark empties the database it is given.
FORBIDDEN_NAMES = ("test", "postgres", "template0", "template1")
FORBIDDEN_PREFIXES = ("h_", "test_")
# Enough coins that no viewer runs dry, whatever the rounds send.
COINS_PER_VIEWER = 10_000_000
FLOOR_CREATOR_BASE_ID = 1_000_000
FUNDING_OPERATION = "BENCH_FUNDING"
FUNDING_BATCH = 250
GIFT_SLUG = "bench-rose"
# The logIn flood's accounts: real argon2 hashes of one password (``bench.floods``).
LOGIN_HANDLE = "bench.login.{}"
LOGIN_PASSWORD = "bench-login-password-0123"  # noqa: S105 (a throwaway database)


class BenchDatabaseRefused(RuntimeError):
    """The URL names a database the benchmark must never empty."""


class SeedFailed(RuntimeError):
    """The database could not be migrated."""


@dataclass(frozen=True)
class Fixture:
    viewer_ids: list[int]
    creator_ids: list[int]
    stream_ids: list[int]  # stream_ids[i] is creator_ids[i]'s live stream
    gift_id: int
    tokens: list[str]  # tokens[i] is viewer_ids[i]'s bearer token

    def floor_pairs(self, hot: bool) -> list[tuple[int, int]]:
        """Floor account pairs (viewer, creator), spread like the app's sends."""
        count = len(self.creator_ids)
        return [
            (index + 1, FLOOR_CREATOR_BASE_ID + (0 if hot else index % count))
            for index in range(len(self.viewer_ids))
        ]


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def check_database_allowed(url: str) -> None:
    name = database_name(url)
    if not name or name in FORBIDDEN_NAMES or name.startswith(FORBIDDEN_PREFIXES):
        raise BenchDatabaseRefused(
            f"refusing to use database {name!r} for the benchmark: it empties its database; "
            "give it one of its own (BENCH_POSTGRES_URL)"
        )


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


async def recreate_schema(url: str) -> None:
    """Create the database if missing, then empty it."""
    check_database_allowed(url)
    name = database_name(url)
    admin = await pg.connect(with_database(url, "postgres"))
    try:
        if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    connection = await pg.connect(url)
    try:
        await connection.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    finally:
        await connection.close()


def migrate(url: str, environ: dict[str, str], attempts: int = 10) -> None:
    """``coins migrate``, exactly as an operator runs it (again while the shared server
    has no connection to spare: a migration that could not connect changed nothing)."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("COINS_")}
    for attempt in range(1, attempts + 1):
        done = subprocess.run(
            [sys.executable, "-m", "app.cli", "migrate"],
            env={**inherited, **environ, "COINS_DATABASE_URL": url},
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode == 0:
            return
        if "too many clients" not in done.stderr or attempt == attempts:
            raise SeedFailed(f"coins migrate failed:\n{done.stderr[-2000:]}")
        time.sleep(5)


async def seed(url: str, settings: Settings, *, viewers: int, creators: int) -> Fixture:
    from app import ledger
    from app.core.transactions import in_transaction
    from app.gifts import catalog
    from app.ledger.codes import AccountCode, Currency, TransferKind
    from app.streams import service as streams
    from app.users.tokens import issue_token

    engine = create_engine(settings.database)
    use_engine(engine)
    await pg.patiently(lambda: open_pool(engine, 2))
    try:
        connection = await pg.connect(url)
        try:
            # Accounts opened long ago by adults: the new-account limits do not apply.
            opened = utcnow() - timedelta(days=400)
            rows = await connection.fetch(
                "INSERT INTO coins_user (handle, display_name, password_hash, birth_date, "
                "show_on_leaderboards, frozen, frozen_reason, created_at) "
                "SELECT handle, handle, '!', DATE '1990-01-01', true, false, '', $3 "
                "FROM (SELECT 'bench.viewer.' || n AS handle, n FROM generate_series(1, $1) n "
                "UNION ALL SELECT 'bench.host.' || n, 1000000 + n FROM generate_series(1, $2) n"
                ") wanted ORDER BY n RETURNING id, handle",
                viewers,
                creators,
                opened,
            )
        finally:
            await connection.close()
        viewer_ids = [r["id"] for r in rows if r["handle"].startswith("bench.viewer.")]
        creator_ids = [r["id"] for r in rows if r["handle"].startswith("bench.host.")]

        async def open_accounts() -> None:
            for user_id in viewer_ids + creator_ids:
                await ledger.open_user_accounts(user_id)

        await in_transaction(open_accounts)

        coin_accounts = await ledger.user_account_ids(viewer_ids)

        async def fund(batch: list[int]) -> None:
            legs = [
                ledger.Leg(
                    TransferKind.PURCHASE,
                    await ledger.system_account_id(AccountCode.COIN_ISSUANCE, viewer_id),
                    coin_accounts[viewer_id][Currency.COIN],
                    COINS_PER_VIEWER,
                    "benchmark funding",
                )
                for viewer_id in batch
            ]

            async def build(operation: ledger.OpenOperation) -> ledger.Plan[None]:
                return ledger.Plan(legs, str(operation.id), None)

            await ledger.run_operation(FUNDING_OPERATION, user_id=None, build=build)

        # One ledger operation per batch of viewers: a transfer each, a tenth of the time.
        for start in range(0, len(viewer_ids), FUNDING_BATCH):
            await fund(viewer_ids[start : start + FUNDING_BATCH])

        stream_ids = [
            (await streams.start_stream(host_id, f"Benchmark stream {n}")).id
            for n, host_id in enumerate(creator_ids, start=1)
        ]
        gift = await catalog.create_gift(
            slug=GIFT_SLUG,
            name="Rose",
            coin_cost=1,
            creator_share=Fraction(settings.economy.creator_share),
        )
    finally:
        await close_pool(engine)

    await create_floor(url, viewers=len(viewer_ids), creators=len(creator_ids))
    tokens = [issue_token(viewer_id, settings.auth) for viewer_id in viewer_ids]
    return Fixture(viewer_ids, creator_ids, stream_ids, gift.id, tokens)


async def create_floor(url: str, *, viewers: int, creators: int) -> None:
    """The floor's tables: an account per viewer and creator, transfers, their indexes."""
    connection = await pg.connect(url)
    try:
        await connection.execute(
            """
            CREATE TABLE bench_floor_account (
                id bigint PRIMARY KEY,
                balance bigint NOT NULL,
                initial_balance bigint NOT NULL
            );
            CREATE TABLE bench_floor_transfer (
                id bigserial PRIMARY KEY,
                debit_account_id bigint NOT NULL,
                credit_account_id bigint NOT NULL,
                amount bigint NOT NULL CHECK (amount > 0),
                debit_balance_after bigint NOT NULL,
                credit_balance_after bigint NOT NULL,
                created_at timestamptz NOT NULL DEFAULT now()
            );
            CREATE INDEX bench_floor_transfer_debit ON bench_floor_transfer (debit_account_id);
            CREATE INDEX bench_floor_transfer_credit ON bench_floor_transfer (credit_account_id);
            """
        )
        await connection.execute(
            "INSERT INTO bench_floor_account (id, balance, initial_balance) "
            "SELECT n, $2, $2 FROM generate_series(1, $1) n "
            "UNION ALL SELECT $3 + n, 0, 0 FROM generate_series(0, $4 - 1) n",
            viewers,
            COINS_PER_VIEWER,
            FLOOR_CREATOR_BASE_ID,
            creators,
        )
    finally:
        await connection.close()


async def seed_login_users(url: str, count: int) -> list[str]:
    """``count`` adults who can log in (the viewers cannot: their hash is unusable); one
    argon2 hash shared by all, made by the app's own hasher, so logIn costs what it costs."""
    from app.users.passwords import hash_password

    password_hash = await hash_password(LOGIN_PASSWORD)
    connection = await pg.connect(url)
    try:
        rows = await connection.fetch(
            "INSERT INTO coins_user (handle, display_name, password_hash, birth_date, "
            "show_on_leaderboards, frozen, frozen_reason, created_at) "
            "SELECT $2 || n, $2 || n, $3, DATE '1990-01-01', true, false, '', $4 "
            "FROM generate_series(1, $1) n ORDER BY n RETURNING handle",
            count,
            LOGIN_HANDLE.format(""),
            password_hash,
            utcnow() - timedelta(days=400),
        )
    finally:
        await connection.close()
    return [row["handle"] for row in rows]

"""``make bench``: the gift path on PostgreSQL, measured from outside the app.

    python -m bench.run [--rounds 3] [--workers 1] [--clients 32] ...

1. The benchmark's own database (``BENCH_POSTGRES_URL``, default ``coins_bench``): created
   if missing, emptied, migrated by ``coins migrate``, seeded (``bench.seed``).
2. The app served by uvicorn in its own process(es) (``bench.server``: production's app
   plus the bench-only minimal handler), ``COINS_ENV=production``.
3. Each scenario, round-robin over ``--rounds`` rounds so that every configuration sees
   the same spells of a shared machine: ``VACUUM ANALYZE`` and ``CHECKPOINT``; a closed
   loop (``--clients`` loops) for the maximum throughput; an open loop at half that rate
   for latency; the money checks (``bench.checks``). The load generator
   (``bench.loadgen``) is another process. CPU of the app's processes and of
   PostgreSQL's backends for this database comes from ``/proc`` at the start and end of
   the closed loop's measured window.
   The floods of issue 13 take their turn in each round (``flood_quiet``, ``flood_login``,
   ``flood_feed``): an ordinary loop (a trivial query and ``sendGift``, open loops at fixed
   rates) alone, beside a ``logIn`` flood, beside 1,000 ``giftSent`` subscribers; each
   flood runs in a process of its own (``bench.floods``). ``--scenarios floods`` runs
   only those, ``--scenarios gifts`` only the others.
4. Statements and round trips per request: each scenario again, briefly, against a second
   app process whose database connection goes through a counting proxy (``bench.wire``).
5. ``bench/results/latest.json``; ``baseline.json`` if there is none yet; the table.

Exit status 1 when money is missing (a failed check), when requests fail, or on a crash;
missed performance targets are reported, not failed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from bench import checks, floods, pg, procstat, report
from bench.loadgen import HttpConnection, Requests
from bench.seed import (
    LOGIN_PASSWORD,
    BenchDatabaseRefused,
    Fixture,
    SeedFailed,
    check_database_allowed,
    database_name,
)
from bench.stats import median
from bench.wire import CountingProxy

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
LOGS = ROOT / "var" / "bench"
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/coins_bench"
# Its own database number: the app's channels (and any Redis-backed limits) stay apart.
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/12"
JWT_SECRET = "benchmark-only-signing-secret-0123456789"  # noqa: S105 (a throwaway database)
KEY = "@@KEY@@"
KEY_DIGITS = 10
MAX_FAILURE_SHARE = 0.01
PAGE_PROBE_REQUESTS = 20

SEND_GIFT = (
    "mutation Send($stream: ID!, $gift: ID!, $key: String!) { sendGift(input: "
    "{streamId: $stream, giftId: $gift, quantity: 1, idempotencyKey: $key}) "
    "{ giftEvent { id } errors { code } } }"
)
WALLET = (
    "query Wallet { me { wallet { coins diamonds entries(first: %d) { edges { cursor node "
    "{ id kind currency amount balanceAfter createdAt description } } "
    "pageInfo { hasNextPage endCursor } } } } }"
)
STREAM = (
    "query Stream($id: ID!) { liveStream(id: $id) { id coinsReceived giftCount "
    "topGifters(first: %d) { rank coins user { handle } } "
    "recentGifts(first: %d) { id coins quantity comboCount gift { name } sender { handle } } } }"
)
# Page sizes of the reads: the measured one first, then the one compared with it.
WALLET_PAGES = (20, 1)
STREAM_PAGES = ((10, 50), (1, 1))
OK_MARKERS = {
    "graphql": '"giftEvent":{"id"',
    "litestar": '"giftEvent":{"id"',
    "read_wallet": '"wallet":{"coins"',
    "read_stream": '"liveStream":{"id"',
}
KEY_CODES = {
    "graphql_spread": "gs",
    "graphql_hot": "gh",
    "litestar_spread": "ls",
    "litestar_hot": "lh",
    "flood_quiet": "fq",
    "flood_login": "fl",
    "flood_feed": "ff",
}
TRIVIAL_QUERY = "{ economy { creatorShare } }"
FAILED = ("all_failed", "unfinished")  # an unfinished request failed as far as a user knows
LOG_IN = (
    "mutation LogIn($handle: String!, $password: String!) { logIn(input: "
    "{handle: $handle, password: $password}) { token errors { code } } }"
)
SCENARIO_GROUPS = {
    "gifts": tuple(report.SCENARIOS),
    "floods": tuple(report.FLOOD_SCENARIOS),
    "all": (*report.SCENARIOS, *report.FLOOD_SCENARIOS),
}


class BenchFailed(RuntimeError):
    """The run cannot be trusted: a phase crashed or too many requests failed."""


@dataclass(frozen=True)
class Config:
    url: str
    rounds: int
    workers: int
    settler: str
    clients: int
    warmup_s: float
    duration_s: float
    open_duration_s: float
    open_connections: int
    viewers: int
    creators: int
    app_pool: int
    floor_pool: int
    probe_clients: int
    probe_s: float
    scenarios: tuple[str, ...] = SCENARIO_GROUPS["all"]
    flood_s: float = 10.0
    query_rate: float = 20.0
    send_rate: float = 5.0
    login_clients: int = 16
    login_users: int = 64
    flood_ips: int = 64
    subscribers: int = 1000
    deliver_within_s: float = 5.0
    redis_url: str | None = DEFAULT_REDIS_URL

    @property
    def pool_per_worker(self) -> int:
        return max(2, self.app_pool // self.workers)


def parse_args(argv: list[str] | None) -> Config:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--database", default=os.environ.get("BENCH_POSTGRES_URL", DEFAULT_URL))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=int(os.environ.get("BENCH_WORKERS", "1")))
    parser.add_argument(
        "--settler",
        choices=("process", "app"),
        default="process",
        help="COINS_SETTLER: one `coins settle` process (as `coins serve` runs it), or each worker",
    )
    parser.add_argument("--clients", type=int, default=32, help="closed-loop clients")
    parser.add_argument("--warmup-s", type=float, default=1.0)
    parser.add_argument("--duration-s", type=float, default=4.0, help="closed-loop window")
    parser.add_argument("--open-duration-s", type=float, default=4.0)
    parser.add_argument("--open-connections", type=int, default=64)
    parser.add_argument("--viewers", type=int, default=2000)
    parser.add_argument("--creators", type=int, default=200)
    parser.add_argument("--app-pool", type=int, default=10, help="connections, all workers")
    parser.add_argument("--floor-pool", type=int, default=10)
    parser.add_argument("--probe-clients", type=int, default=4)
    parser.add_argument("--probe-s", type=float, default=2.0)
    parser.add_argument(
        "--scenarios",
        default="all",
        help="comma-separated: all, gifts (issue 12's), floods (issue 13's) or scenario names",
    )
    parser.add_argument("--flood-s", type=float, default=10.0, help="each flood configuration")
    parser.add_argument("--query-rate", type=float, default=20.0, help="ordinary queries /s")
    parser.add_argument("--send-rate", type=float, default=5.0, help="ordinary sendGift /s")
    parser.add_argument("--login-clients", type=int, default=16)
    parser.add_argument("--login-users", type=int, default=64)
    parser.add_argument("--flood-ips", type=int, default=64, help="logIn source addresses")
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--deliver-within-s", type=float, default=5.0)
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL),
        help="the app's COINS_REDIS_URL; 'none' for the in-process feed",
    )
    args = parser.parse_args(argv)
    if not 1 <= args.rounds <= 99:
        parser.error("--rounds is 1 to 99")
    try:
        scenarios = select_scenarios(args.scenarios)
    except ValueError as error:
        parser.error(str(error))
    if not 1 <= args.flood_ips <= 254:
        parser.error("--flood-ips is 1 to 254")
    return Config(
        url=args.database,
        rounds=args.rounds,
        workers=args.workers,
        settler=args.settler,
        clients=args.clients,
        warmup_s=args.warmup_s,
        duration_s=args.duration_s,
        open_duration_s=args.open_duration_s,
        open_connections=args.open_connections,
        viewers=args.viewers,
        creators=args.creators,
        app_pool=args.app_pool,
        floor_pool=args.floor_pool,
        probe_clients=args.probe_clients,
        probe_s=args.probe_s,
        scenarios=scenarios,
        flood_s=args.flood_s,
        query_rate=args.query_rate,
        send_rate=args.send_rate,
        login_clients=args.login_clients,
        login_users=args.login_users,
        flood_ips=args.flood_ips,
        subscribers=args.subscribers,
        deliver_within_s=args.deliver_within_s,
        redis_url=None if args.redis_url.lower() in ("", "none") else args.redis_url,
    )


def select_scenarios(text: str) -> tuple[str, ...]:
    """Names and groups, in the run's own order; a flood brings ``flood_quiet`` along, the
    configuration it is compared with."""
    wanted: set[str] = set()
    for part in filter(None, (p.strip() for p in text.split(","))):
        if part in SCENARIO_GROUPS:
            wanted.update(SCENARIO_GROUPS[part])
        elif part in SCENARIO_GROUPS["all"]:
            wanted.add(part)
        else:
            known = ", ".join((*SCENARIO_GROUPS, *SCENARIO_GROUPS["all"]))
            raise ValueError(f"unknown scenario {part!r}; known: {known}")
    if wanted & set(report.FLOOD_SCENARIOS):
        wanted.add("flood_quiet")
    if not wanted:
        raise ValueError("no scenario selected")
    return tuple(name for name in SCENARIO_GROUPS["all"] if name in wanted)


def login_attempts(handles: list[str], count: int, *, right_every: int = 4) -> list[tuple]:
    """The flood's (handle, password) pairs in a fixed shuffled order: the seeded handles and
    as many unknown ones, the right password for one in ``right_every`` of the seeded."""
    handles = [*handles, *(f"bench.nobody.{n}" for n in range(1, len(handles) + 1))]
    pairs = []
    for n in range(count):
        handle = handles[n % len(handles)]
        right = not handle.startswith("bench.nobody.") and n % right_every == 0
        pairs.append((handle, LOGIN_PASSWORD if right else f"guess-{n}"))
    random.Random(13).shuffle(pairs)  # noqa: S311 (the same order every run, mixed)
    return pairs


def app_environment(config: Config, database_url: str) -> dict[str, str]:
    """The app's settings, from nothing but these (no COINS_* leaks in from the shell)."""
    environment = {
        "COINS_ENV": "production",
        "COINS_DATABASE_URL": database_url,
        "COINS_DATABASE_POOL_MAX_SIZE": str(config.pool_per_worker),
        "COINS_JWT_SECRET": JWT_SECRET,
        "COINS_SETTLER": config.settler,
    }
    if config.redis_url:
        # Channels of this run's own: another bench on the same Redis hears none of them.
        environment["COINS_REDIS_URL"] = config.redis_url
        environment["COINS_REDIS_CHANNEL_PREFIX"] = f"bench{os.getpid()}"
    return environment


def process_environment(app_env: dict[str, str]) -> dict[str, str]:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("COINS_")}
    return {**inherited, **app_env, "PYTHONUNBUFFERED": "1"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class AppServer:
    """``uvicorn bench.server:create_bench_app --factory --workers N`` in its own process,
    and with ``COINS_SETTLER=process`` a ``coins settle`` beside it (as ``coins serve`` runs
    one): its CPU is the app's too."""

    def __init__(self, app_env: dict[str, str], workers: int, log_name: str) -> None:
        self.env = process_environment(app_env)
        self.workers = workers
        self.log_path = LOGS / log_name
        self.port = free_port()
        self.process: asyncio.subprocess.Process | None = None
        self.settler: asyncio.subprocess.Process | None = None

    @property
    def pids(self) -> list[int]:
        assert self.process is not None
        return [p.pid for p in (self.process, self.settler) if p is not None]

    async def start(self) -> None:
        """Start it and wait for ``/healthz``; again while PostgreSQL has no connection free
        for its pool (a shared server), for up to ``pg.WAIT_S``."""
        LOGS.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + pg.WAIT_S
        while not await self._start_once():
            if "too many clients" not in self.log_path.read_text() or time.monotonic() > deadline:
                raise BenchFailed(f"the app did not start; see {self.log_path}")
            await asyncio.sleep(2)

    async def _start_once(self) -> bool:
        with self.log_path.open("w") as log:
            if self.env.get("COINS_SETTLER") == "process":
                self.settler = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "app.cli",
                    "settle",
                    "--parent-pid",  # gone with this run, however it ends
                    str(os.getpid()),
                    env=self.env,
                    cwd=ROOT,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "uvicorn",
                "bench.server:create_bench_app",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                str(self.workers),
                "--no-access-log",
                "--log-level",
                "warning",
                env=self.env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and self.process.returncode is None:
            try:
                connection = await HttpConnection.open("127.0.0.1", self.port)
                status, _ = await connection.request(
                    b"GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n"
                )
                connection.close()
                if status == 200:
                    if self.workers > 1:
                        await asyncio.sleep(2)  # the other workers finish starting
                    self.check_settler()
                    return True
            except OSError:
                pass
            await asyncio.sleep(0.2)
        await self.stop()
        return False

    def check_settler(self) -> None:
        """A settler that stopped would leave every scenario after it unsettled."""
        if self.settler is not None and self.settler.returncode is not None:
            raise BenchFailed(
                f"coins settle stopped (exit {self.settler.returncode}); see {self.log_path}"
            )

    async def stop(self) -> None:
        for process in (self.process, self.settler):
            if process is None or process.returncode is not None:
                continue
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 20)
            except TimeoutError:
                process.kill()
                await process.wait()

    async def graphql(self, query: str) -> dict[str, Any]:
        body = json.dumps({"query": query}).encode()
        connection = await HttpConnection.open("127.0.0.1", self.port)
        try:
            status, answer = await connection.request(
                b"POST /graphql HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
                + f"content-length: {len(body)}\r\n\r\n".encode()
                + body
            )
        finally:
            connection.close()
        if status != 200:
            raise BenchFailed(f"GraphQL answered {status}: {answer[:200]!r}")
        return json.loads(answer)


# Requests ------------------------------------------------------------------------------


def http_template(path: str, token: str | None, body: dict[str, Any], key_length: int) -> list:
    """[head, tail]: the request up to the idempotency key and after it (tail None: no key)."""
    raw = json.dumps(body, separators=(",", ":"))
    if KEY in raw:
        before, after = raw.split(KEY)
        length = len(before) + key_length + len(after)
    else:
        before, after, length = raw, None, len(raw)
    authorization = f"authorization: Bearer {token}\r\n" if token else ""
    head = (
        f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
        f"{authorization}content-length: {length}\r\n\r\n{before}"
    )
    return [head, after]


def templates_for(
    name: str, fixture: Fixture, ids: dict[str, Any], key_length: int, page: int = 0
) -> list[list]:
    """One request per viewer (sends, wallet reads) or per stream (stream reads)."""
    _, path, target = report.SCENARIOS[name]
    creators = len(fixture.stream_ids)
    if name == "read_wallet":
        query = WALLET % WALLET_PAGES[page]
        return [
            http_template("/graphql", token, {"query": query}, key_length)
            for token in fixture.tokens
        ]
    if name == "read_stream":
        query = STREAM % STREAM_PAGES[page]
        return [
            http_template(
                "/graphql",
                fixture.tokens[n],
                {"query": query, "variables": {"id": ids["streams"][n]}},
                key_length,
            )
            for n in range(creators)
        ]
    templates = []
    for n, token in enumerate(fixture.tokens):
        stream = ids["streams"][0 if target == "hot" else n % creators]
        if path == "graphql":
            body = {
                "query": SEND_GIFT,
                "variables": {"stream": stream, "gift": ids["gift"], "key": KEY},
            }
            templates.append(http_template("/graphql", token, body, key_length))
        else:
            body = {"streamId": stream, "giftId": ids["gift"], "quantity": 1, "idempotencyKey": KEY}
            templates.append(http_template("/bench/send-gift", token, body, key_length))
    return templates


# Phases --------------------------------------------------------------------------------


async def run_loadgen(
    spec: dict[str, Any], on_window: Callable[[str], Awaitable[None]] | None = None
) -> dict[str, Any]:
    """One load generator process; ``on_window`` hears its WINDOW START and WINDOW END."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as file:
        json.dump(spec, file)
        spec_path = file.name
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.loadgen",
            spec_path,
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            env=process_environment({}),
        )
        assert process.stdout is not None
        result = None
        while line := await process.stdout.readline():
            text = line.decode().strip()
            if text in ("WINDOW START", "WINDOW END"):
                if on_window is not None:
                    await on_window(text)
            elif text.startswith("RESULT "):
                result = json.loads(text.removeprefix("RESULT "))
        await process.wait()
    finally:
        os.unlink(spec_path)
    if process.returncode or result is None:
        raise BenchFailed(f"the load generator failed (exit {process.returncode})")
    return result


class FloodProcess:
    """``python -m bench.floods``: started, told to stop, its result read (``bench.floods``)."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.process: asyncio.subprocess.Process | None = None
        self.spec_path = ""

    async def start(self, timeout_s: float = 300) -> dict[str, Any]:
        """Start it; its FLOOD READY line once the flood is under way."""
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as file:
            json.dump(self.spec, file)
            self.spec_path = file.name
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.floods",
            self.spec_path,
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=64 * 1024 * 1024,
            env=process_environment({}),
        )
        try:
            line = await asyncio.wait_for(self._line("FLOOD READY "), timeout_s)
        except TimeoutError:
            raise BenchFailed(f"the flood did not get under way in {timeout_s:.0f} s") from None
        return json.loads(line)

    async def stop(self, payload: Any = None, timeout_s: float = 120) -> dict[str, Any]:
        """``STOP`` (with the gifts sent, for the feed); its RESULT."""
        assert self.process is not None
        assert self.process.stdin is not None
        self.process.stdin.write(f"STOP {json.dumps(payload) if payload else ''}\n".encode())
        await self.process.stdin.drain()
        self.process.stdin.close()
        result = json.loads(await asyncio.wait_for(self._line("RESULT "), timeout_s))
        await self.process.wait()
        return result

    async def _line(self, prefix: str) -> str:
        assert self.process is not None
        assert self.process.stdout is not None
        while line := await self.process.stdout.readline():
            text = line.decode().strip()
            if text.startswith(prefix):
                return text.removeprefix(prefix)
        await self.process.wait()
        raise BenchFailed(f"the flood process ended (exit {self.process.returncode})")

    async def close(self) -> None:
        """Whatever happened: the process gone, its spec file removed."""
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()
        if self.spec_path:
            with contextlib.suppress(OSError):
                os.unlink(self.spec_path)


class CpuMeter:
    """CPU of the app's processes and of this database's PostgreSQL backends, per window."""

    def __init__(self, admin: asyncpg.Connection, database: str, app_pids: list[int]) -> None:
        self.admin = admin
        self.database = database
        self.app_pids = app_pids
        self.marks: dict[str, tuple[dict[int, float], dict[int, float]]] = {}

    async def backends(self) -> list[int]:
        rows = await self.admin.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            self.database,
        )
        return [row["pid"] for row in rows]

    async def mark(self, label: str) -> None:
        app = procstat.snapshot([p for pid in self.app_pids for p in procstat.process_tree(pid)])
        self.marks[label] = (app, procstat.snapshot(await self.backends()))

    def spent_ms(self) -> tuple[float, float]:
        (app0, pg0), (app1, pg1) = self.marks["WINDOW START"], self.marks["WINDOW END"]
        return procstat.spent_ms(app0, app1), procstat.spent_ms(pg0, pg1)


class Bench:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.app_env = app_environment(config, config.url)
        self.rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in report.SCENARIOS}
        self.flood_rounds: dict[str, list[dict[str, Any]]] = {
            name: [] for name in report.FLOOD_SCENARIOS
        }
        self.gift_scenarios = [n for n in config.scenarios if n in report.SCENARIOS]
        self.flood_scenarios = [n for n in config.scenarios if n in report.FLOOD_SCENARIOS]
        self.login_handles: list[str] = []
        self.sql: dict[str, dict[str, Any]] = {}
        self.checked = {"scenarios": 0, "ledger_verify": 0, "events": 0}

    # Set-up ----------------------------------------------------------------------------

    async def prepare(self) -> None:
        from app.core.database import create_engine, open_pool, use_engine
        from app.settings import Settings
        from bench import seed

        self.settings = Settings.from_env(self.app_env)
        started = time.monotonic()
        print(f"database {database_name(self.config.url)}: emptying, migrating, seeding ...")
        await seed.recreate_schema(self.config.url)
        seed.migrate(self.config.url, self.app_env)
        self.fixture = await seed.seed(
            self.config.url,
            self.settings,
            viewers=self.config.viewers,
            creators=self.config.creators,
        )
        if "flood_login" in self.flood_scenarios:
            self.login_handles = await seed.seed_login_users(
                self.config.url, self.config.login_users
            )
        # The app's own engine in this process, for ``ledger verify`` between scenarios.
        engine = create_engine(self.settings.database)
        use_engine(engine)
        await pg.patiently(lambda: open_pool(engine, 2))
        self.engine = engine
        self.admin = await pg.connect(self.config.url)
        await self.admin.execute("VACUUM ANALYZE")
        print(
            f"  {len(self.fixture.viewer_ids)} funded viewers, {len(self.fixture.creator_ids)} "
            f"live creators, in {time.monotonic() - started:.1f} s"
        )

    def ids(self) -> dict[str, Any]:
        from app.core.ids import encode_id

        return {
            "streams": [encode_id("LiveStream", s) for s in self.fixture.stream_ids],
            "gift": encode_id("Gift", self.fixture.gift_id),
        }

    async def published_share(self, server: AppServer) -> Fraction:
        answer = await server.graphql("{ economy { creatorShare } }")
        return Fraction(Decimal(str(answer["data"]["economy"]["creatorShare"])))

    # Specs -----------------------------------------------------------------------------

    def spec(
        self, name: str, *, port: int, dsn: str, key_prefix: str, page: int = 0
    ) -> dict[str, Any]:
        _, path, target = report.SCENARIOS[name]
        common = {
            "clients": self.config.clients,
            "warmup_s": self.config.warmup_s,
            "duration_s": self.config.duration_s,
            "timeout_s": 30,
        }
        if path == "floor":
            return {
                **common,
                "kind": "floor",
                "dsn": dsn,
                "pool_size": self.config.floor_pool,
                "pairs": self.fixture.floor_pairs(hot=target == "hot"),
            }
        key_length = len(key_prefix) + KEY_DIGITS
        return {
            **common,
            "kind": "http",
            "host": "127.0.0.1",
            "port": port,
            "templates": templates_for(name, self.fixture, self.ids(), key_length, page),
            "key_prefix": key_prefix,
            "key_digits": KEY_DIGITS,
            "ok_marker": OK_MARKERS.get(name, OK_MARKERS.get(path, "")),
        }

    # The rounds ------------------------------------------------------------------------

    async def settle_database(self) -> None:
        """Every scenario starts from the same state of PostgreSQL: vacuumed (autovacuum is
        off on these machines), analysed, and checkpointed. Without the checkpoint a timed
        one (every ``checkpoint_timeout``) lands on whichever scenario runs then, and its
        burst of full-page writes slows that scenario alone; after it, every scenario pays
        the same full-page writes from its start, and none meets a checkpoint midway."""
        await self.admin.execute("VACUUM ANALYZE")
        await self.admin.execute("CHECKPOINT")

    async def scenario_round(self, server: AppServer, name: str, number: int) -> dict[str, Any]:
        path = report.SCENARIOS[name][1]
        code = KEY_CODES.get(name, "xx")
        started = time.monotonic()
        server.check_settler()
        await self.settle_database()
        viewers, creators = self.fixture.viewer_ids, self.fixture.creator_ids
        before = await checks.state(self.admin, viewers, creators)

        meter = CpuMeter(
            self.admin, database_name(self.config.url), [] if path == "floor" else server.pids
        )
        spec = self.spec(
            name, port=server.port, dsn=self.config.url, key_prefix=f"{code}{number:02d}c"
        )
        spec |= {
            "mode": "closed+open",
            "open_fraction": 0.5,
            "open_connections": self.config.open_connections,
            "open_duration_s": self.config.open_duration_s,
            "open_key_prefix": f"{code}{number:02d}o",
        }
        phases = await run_loadgen(spec, meter.mark)
        closed, opened = phases["closed"], phases["open"]
        app_ms, pg_ms = meter.spent_ms()
        if path == "floor":  # the floor's client is its app
            app_ms = closed["client_cpu_ms"]
        rate = opened["rate_per_s"]

        def per_request(ms: float | None) -> float | None:
            return round(ms / closed["ok"], 3) if ms is not None and closed["ok"] else None

        entry = {
            "round": number,
            "closed": closed,
            "open": opened,
            "cpu_ms_per_request": {
                "app": per_request(app_ms),
                "postgres": per_request(pg_ms),
                "total": per_request(app_ms + pg_ms),
                "load_generator": per_request(closed["client_cpu_ms"] if path != "floor" else None),
            },
        }
        self.check_failures(name, closed, opened)
        entry["check"] = await self.check(name, before, closed, opened)
        print(
            f"  round {number} {name:<16} {closed['throughput_per_s']:>9.1f}/s   "
            f"at {rate:>7.1f}/s p50 {opened['latency_ms'].get('p50', 0):>7.1f} ms "
            f"p99 {opened['latency_ms'].get('p99', 0):>7.1f} ms   "
            f"cpu {entry['cpu_ms_per_request']['total'] or 0:.2f} ms/req   "
            f"checked ({time.monotonic() - started:.0f} s)",
            flush=True,
        )
        return entry

    async def warm(self, server: AppServer, name: str) -> None:
        before = await checks.state(self.admin, self.fixture.viewer_ids, self.fixture.creator_ids)
        code = KEY_CODES.get(name, "xx")
        spec = self.spec(name, port=server.port, dsn=self.config.url, key_prefix=f"{code}00w")
        warmed = await run_loadgen(spec | {"mode": "closed", "warmup_s": 0, "duration_s": 2.0})
        self.check_failures(name, warmed)
        await self.check(name, before, warmed)

    def check_failures(self, name: str, *phases: dict[str, Any]) -> None:
        sent = sum(p["all_ok"] + p["all_failed"] for p in phases)
        failed = sum(p["all_failed"] + p["unfinished"] for p in phases)
        if sent == 0 or failed > MAX_FAILURE_SHARE * sent:
            samples = [s for p in phases for s in p["failure_samples"]]
            hint = ""
            if "too many clients" in (LOGS / "app.log").read_text():
                hint = (
                    "\nthe app's log says PostgreSQL had no connection to spare: the server's "
                    "connections are shared; try again when others hold fewer"
                )
            raise BenchFailed(f"{name}: {failed} of {sent} requests failed: {samples[:3]}{hint}")

    async def check(
        self, name: str, before: checks.State, *phases: dict[str, Any]
    ) -> dict[str, Any]:
        _, path, target = report.SCENARIOS[name]
        succeeded = sum(p["all_ok"] for p in phases)
        failed = sum(p["all_failed"] + p["unfinished"] for p in phases)
        viewers, creators = self.fixture.viewer_ids, self.fixture.creator_ids
        outcome: dict[str, Any] = {}
        if path == "floor":
            await checks.check_floor(self.admin, before, succeeded=succeeded, failed=failed)
        elif target == "read":
            await checks.check_nothing_moved(self.admin, before, viewers, creators)
        else:
            outcome = await checks.check_sends(
                self.admin,
                before,
                viewers=viewers,
                creators=creators,
                share=self.share,
                succeeded=succeeded,
                failed=failed,
            )
            self.checked["events"] += outcome["events"]
        await checks.verify_ledger()
        self.checked["ledger_verify"] += 1
        self.checked["scenarios"] += 1
        return {"ok": True, **outcome}

    # The floods (issue 13) ---------------------------------------------------------------

    def ordinary_spec(self, server: AppServer, key_prefix: str, duration_s: float) -> dict:
        """The ordinary loop: a trivial query and sendGift to the watched stream (stream 0),
        each an open loop at its fixed rate; the sends' event IDs are recorded."""
        tokens, ids = self.fixture.tokens, self.ids()
        senders = tokens[: max(1, len(tokens) - self.config.subscribers)]
        key_length = len(key_prefix) + KEY_DIGITS
        send = {"query": SEND_GIFT, "variables": {"stream": ids["streams"][0], "gift": ids["gift"]}}
        return {
            "mode": "ordinary",
            "host": "127.0.0.1",
            "port": server.port,
            "duration_s": duration_s,
            "timeout_s": 60,
            "loops": {
                "query": {
                    "templates": [
                        http_template("/graphql", token, {"query": TRIVIAL_QUERY}, 0)
                        for token in senders[:50]
                    ],
                    "rate": self.config.query_rate,
                    "connections": 32,
                    "ok_marker": '"creatorShare"',
                },
                "send": {
                    "templates": [
                        http_template(
                            "/graphql",
                            token,
                            {**send, "variables": {**send["variables"], "key": KEY}},
                            key_length,
                        )
                        for token in senders
                    ],
                    "key_prefix": key_prefix,
                    "key_digits": KEY_DIGITS,
                    "rate": self.config.send_rate,
                    "connections": 16,
                    "ok_marker": OK_MARKERS["graphql"],
                    "record_ids": True,
                },
            },
        }

    def flood_spec(self, kind: str, server: AppServer, number: int) -> dict[str, Any]:
        common = {"kind": kind, "host": "127.0.0.1", "port": server.port, "max_s": 900}
        if kind == "login":
            pairs = login_attempts(self.login_handles, 16 * len(self.login_handles))
            return {
                **common,
                "clients": self.config.login_clients,
                "source_addresses": floods.source_addresses(self.config.flood_ips),
                "requests_per_connection": 8,
                "templates": [
                    http_template(
                        "/graphql",
                        None,
                        {"query": LOG_IN, "variables": {"handle": h, "password": p}},
                        0,
                    )
                    for h, p in pairs
                ],
            }
        tokens, ids = self.fixture.tokens, self.ids()
        watchers = [tokens[-1 - n % len(tokens)] for n in range(self.config.subscribers)]
        key_prefix = f"fw{number:02d}"
        body = {
            "query": SEND_GIFT,
            "variables": {"stream": ids["streams"][0], "gift": ids["gift"], "key": KEY},
        }
        return {
            **common,
            "tokens": watchers,
            "stream_id": ids["streams"][0],
            "ready_timeout_s": 180,
            "deliver_within_s": self.config.deliver_within_s,
            "warm": {
                "templates": [
                    http_template("/graphql", tokens[0], body, len(key_prefix) + KEY_DIGITS)
                ],
                "key_prefix": key_prefix,
                "key_digits": KEY_DIGITS,
            },
        }

    async def flood_round(self, server: AppServer, name: str, number: int) -> dict[str, Any]:
        """The ordinary loop, alone or beside a flood; the money checked after."""
        kind = report.FLOOD_SCENARIOS[name][1]
        started = time.monotonic()
        server.check_settler()
        await self.settle_database()
        viewers, creators = self.fixture.viewer_ids, self.fixture.creator_ids
        before = await checks.state(self.admin, viewers, creators)
        flood = FloodProcess(self.flood_spec(kind, server, number)) if kind else None
        flood_result: dict[str, Any] = {}
        try:
            ready = await flood.start() if flood else {}
            spec = self.ordinary_spec(
                server, f"{KEY_CODES[name]}{number:02d}s", self.config.flood_s
            )
            ordinary = await run_loadgen(spec)
            sent_at = ordinary["send"].pop("sent_at", {})
            if flood is not None:
                if kind == "feed":  # each gift's deliveries have their time to arrive
                    await asyncio.sleep(self.config.deliver_within_s)
                flood_result = await flood.stop(sent_at if kind == "feed" else None)
        finally:
            if flood is not None:
                await flood.close()
        warm = flood_result.get("warm_up_sends", {"ok": 0, "failed": 0})
        send = ordinary["send"]
        await self.settle(server)
        outcome = await checks.check_sends(
            self.admin,
            before,
            viewers=viewers,
            creators=creators,
            share=self.share,
            succeeded=send["all_ok"] + warm["ok"],
            failed=send["all_failed"] + send["unfinished"] + warm["failed"],
        )
        self.checked["events"] += outcome["events"]
        await checks.verify_ledger()
        self.checked["ledger_verify"] += 1
        self.checked["scenarios"] += 1
        entry = {
            "round": number,
            "ordinary": ordinary,
            "ready": ready,
            "flood": flood_result,
            "check": {"ok": True, **outcome},
        }
        query = ordinary["query"]["latency_ms"]
        sends = send["latency_ms"]
        print(
            f"  round {number} {name:<16} query p50 {query.get('p50', 0):>7.1f} p99 "
            f"{query.get('p99', 0):>7.1f} ms   send p50 {sends.get('p50', 0):>7.1f} p99 "
            f"{sends.get('p99', 0):>7.1f} ms   failed "
            f"{sum(ordinary[loop][k] for loop in ('query', 'send') for k in FAILED)}   "
            f"{flood_summary(flood_result)}checked ({time.monotonic() - started:.0f} s)",
            flush=True,
        )
        if kind == "feed":
            await asyncio.sleep(1)  # the app closes 1,000 sockets before the next scenario
        return entry

    async def settle(self, server: AppServer, quiet_s: float = 1.0, wait_s: float = 120) -> None:
        """Until the app answers and no gift event has appeared for ``quiet_s``: a request
        the load generator gave up on may still commit, and must not land in the next
        scenario's books."""
        deadline = time.monotonic() + wait_s
        last, since = None, time.monotonic()
        while time.monotonic() < deadline:
            with contextlib.suppress(BenchFailed, OSError):
                await server.graphql(TRIVIAL_QUERY)
            newest = await self.admin.fetchval("SELECT coalesce(max(id), 0) FROM gift_event")
            if newest != last:
                last, since = newest, time.monotonic()
            elif time.monotonic() - since >= quiet_s:
                return
            await asyncio.sleep(0.2)

    async def warm_floods(self, server: AppServer) -> None:
        """The ordinary loop once, untimed: its statements prepared, its pools filled."""
        before = await checks.state(self.admin, self.fixture.viewer_ids, self.fixture.creator_ids)
        warmed = await run_loadgen(self.ordinary_spec(server, "fo00w", 2.0))
        send = warmed["send"]
        await checks.check_sends(
            self.admin,
            before,
            viewers=self.fixture.viewer_ids,
            creators=self.fixture.creator_ids,
            share=self.share,
            succeeded=send["all_ok"],
            failed=send["all_failed"] + send["unfinished"],
        )

    # Statements and round trips ----------------------------------------------------------

    async def count_sql(self) -> None:
        """Each scenario once more, through the counting proxy, in a second app process."""
        parts = urlsplit(self.config.url)
        async with CountingProxy(parts.hostname or "127.0.0.1", parts.port or 5432) as proxy:
            proxied = via_proxy(self.config.url, proxy.port)
            # The settler in the app process, woken by its gifts: its batches count in the
            # sends' statements, as before; a ``coins settle`` would add its looks at an
            # empty queue, 50 a second, to whatever a window holds.
            probe_env = app_environment(self.config, proxied) | {"COINS_SETTLER": "app"}
            server = AppServer(probe_env, 1, "probe.log")
            await server.start()
            try:
                for name in self.gift_scenarios:
                    self.sql[name] = await self.count_scenario(server, proxy, proxied, name)
                    shown = self.sql[name]
                    print(
                        f"  {name:<16} {shown['statements_per_request']:>6.1f} statements "
                        f"{shown['round_trips_per_request']:>6.1f} round trips per request"
                        + (
                            f"   by page size {shown['statements_by_page_size']}"
                            if "statements_by_page_size" in shown
                            else ""
                        ),
                        flush=True,
                    )
            finally:
                await server.stop()

    async def count_scenario(
        self, server: AppServer, proxy: CountingProxy, dsn: str, name: str
    ) -> dict[str, Any]:
        """Per request, under load like the timed runs (``probe_clients`` closed loops)."""
        code = KEY_CODES.get(name, "xx")
        spec = self.spec(name, port=server.port, dsn=dsn, key_prefix=f"{code}p0w")
        spec |= {"mode": "closed", "clients": self.config.probe_clients, "warmup_s": 0}
        before = await checks.state(self.admin, self.fixture.viewer_ids, self.fixture.creator_ids)
        # Warm statement caches and pools first: a cold one parses what a warm one reuses.
        warm = await run_loadgen(spec | {"duration_s": 1.0})
        start = proxy.counts.snapshot()
        measured = await run_loadgen(
            spec | {"duration_s": self.config.probe_s, "key_prefix": f"{code}p0m"}
        )
        delta = proxy.counts.minus(start)
        await self.check(name, before, warm, measured)
        requests = measured["all_ok"] + measured["all_failed"]
        result: dict[str, Any] = {
            "requests": requests,
            "statements_per_request": round(delta.statements / requests, 2),
            "round_trips_per_request": round(delta.round_trips / requests, 2),
            "parses_per_request": round(delta.parses / requests, 3),
        }
        if report.SCENARIOS[name][2] == "read":
            result["statements_by_page_size"] = await self.count_pages(server, proxy, name)
        return result

    async def count_pages(self, server: AppServer, proxy: CountingProxy, name: str) -> dict:
        """The same requests one at a time at two page sizes: the median of each request's
        statements (DataLoader batches that split on timing now and then do not move it;
        statements that grow with the page do)."""
        sizes = WALLET_PAGES if name == "read_wallet" else [p[1] for p in STREAM_PAGES]
        counted = {}
        for page, size in enumerate(sizes):
            spec = self.spec(name, port=server.port, dsn="", key_prefix="", page=page)
            requests = Requests(spec)
            connection = await HttpConnection.open("127.0.0.1", server.port)
            try:
                for _ in range(3):  # this page size's statements, prepared
                    await connection.request(requests.next())
                requests.position = 0
                statements = []
                for _ in range(PAGE_PROBE_REQUESTS):
                    start = proxy.counts.snapshot()
                    status, body = await connection.request(requests.next())
                    await asyncio.sleep(0.02)  # the pool's reset after the answer
                    if status != 200 or spec["ok_marker"].encode() not in body:
                        raise BenchFailed(f"{name} at page size {size}: {status} {body[:200]!r}")
                    statements.append(proxy.counts.minus(start).statements)
            finally:
                connection.close()
            counted[str(size)] = median(statements)
        return counted

    # The whole run -----------------------------------------------------------------------

    async def run(self) -> dict[str, Any]:
        self.load_at_start = [round(x, 2) for x in os.getloadavg()]
        if self.load_at_start[0] > (os.cpu_count() or 1):
            print(
                f"note: the machine is busy (load average {self.load_at_start[0]} on "
                f"{os.cpu_count()} cores): expect noisy figures; the ratios within this run "
                "hold up best"
            )
        await self.prepare()
        redis_url = self.config.redis_url
        if self.flood_scenarios and redis_url and not await redis_reachable(redis_url):
            print(f"note: no Redis at {self.config.redis_url}: the app's in-process feed")
            self.app_env.pop("COINS_REDIS_URL", None)
            self.app_env.pop("COINS_REDIS_CHANNEL_PREFIX", None)
        server = AppServer(self.app_env, self.config.workers, "app.log")
        await server.start()
        try:
            self.share = await self.published_share(server)
            print(
                f"app: {self.config.workers} worker(s), pool {self.config.pool_per_worker} each, "
                f"settler: {self.config.settler}"
                f"{', Redis feed' if 'COINS_REDIS_URL' in self.app_env else ''}; "
                f"{self.config.rounds} rounds of {len(self.config.scenarios)} scenarios"
            )
            print("warming up: each scenario once, untimed (caches, pools, prepared statements)")
            for name in self.gift_scenarios:
                await self.warm(server, name)
            if self.flood_scenarios:
                await self.warm_floods(server)
            for number in range(1, self.config.rounds + 1):
                for name in self.gift_scenarios:
                    self.rounds[name].append(await self.scenario_round(server, name, number))
                for name in self.flood_scenarios:
                    self.flood_rounds[name].append(await self.flood_round(server, name, number))
        finally:
            await server.stop()
        if self.gift_scenarios:
            print("statements and round trips per request (through the counting proxy):")
            await self.count_sql()
        return report.build_results(
            flood_rounds={n: r for n, r in self.flood_rounds.items() if r},
            rounds=self.rounds,
            sql=self.sql,
            machine=await self.machine(),
            config=self.described_config(),
            checks={**self.checked, "ok": True},
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )

    async def close(self) -> None:
        from app.core.database import close_pool

        if getattr(self, "admin", None) is not None:
            await self.admin.close()
        if getattr(self, "engine", None) is not None:
            await close_pool(self.engine)

    async def machine(self) -> dict[str, Any]:
        return {
            "cores": os.cpu_count(),
            "cpu_model": cpu_model(),
            "postgresql": await self.admin.fetchval("SHOW server_version"),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average_at_start": self.load_at_start,
            "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
            "commit": _git("rev-parse", "--short", "HEAD"),
            "uncommitted_changes": bool(_git("status", "--porcelain", "--untracked-files=no")),
        }

    def described_config(self) -> dict[str, Any]:
        config = self.config
        return {
            "database": database_name(config.url),
            "rounds": config.rounds,
            "workers": config.workers,
            "settler": config.settler,
            "app_pool_per_worker": config.pool_per_worker,
            "floor_pool": config.floor_pool,
            "clients": config.clients,
            "warmup_s": config.warmup_s,
            "duration_s": config.duration_s,
            "open_duration_s": config.open_duration_s,
            "open_connections": config.open_connections,
            "viewers": config.viewers,
            "creators": config.creators,
            "gift": "Rose, 1 coin",
            "app_env": "production",
            "probe_clients": config.probe_clients,
            "probe_s": config.probe_s,
            "scenarios": list(config.scenarios),
            "flood_s": config.flood_s,
            "query_rate_per_s": config.query_rate,
            "send_rate_per_s": config.send_rate,
            "login_clients": config.login_clients,
            "login_users": config.login_users,
            "flood_ips": config.flood_ips,
            "subscribers": config.subscribers,
            "deliver_within_s": config.deliver_within_s,
            "redis_feed": "COINS_REDIS_URL" in self.app_env,
        }


def flood_summary(result: dict[str, Any]) -> str:
    """One line's worth of a flood's result, for the progress output."""
    if result.get("kind") == "login":
        outcomes = ", ".join(f"{k} {v}" for k, v in result["outcomes"].items())
        return f"logIn {result['rate_per_s']}/s ({outcomes})   "
    if result.get("kind") == "feed":
        delivery = result["delivery"]
        return (
            f"{result['acknowledged']}/{result['subscribers']} subscribed, "
            f"{delivery['on_time']}/{delivery['expected']} delivered on time, p50 "
            f"{delivery['latency_ms'].get('p50', 0):.0f} ms   "
        )
    return ""


async def redis_reachable(url: str) -> bool:
    import redis.asyncio as aioredis
    from redis.exceptions import RedisError

    client = aioredis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        return bool(await client.ping())
    except (RedisError, OSError):
        return False
    finally:
        await client.aclose()


def raise_open_files_limit() -> None:
    """1,000 subscribers are 1,000 sockets in the app and in the flood process (inherited)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 8192 if hard == resource.RLIM_INFINITY else min(hard, 8192)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def via_proxy(url: str, port: int) -> str:
    """``url`` with its host and port replaced by the counting proxy's."""
    parts = urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = f"{userinfo}@127.0.0.1:{port}" if userinfo else f"127.0.0.1:{port}"
    return urlunsplit(parts._replace(netloc=netloc))


def _git(*args: str) -> str:
    try:
        return subprocess.run(  # noqa: S603
            ["git", *args],  # noqa: S607
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def write_results(results: dict[str, Any]) -> dict[str, Any] | None:
    """latest.json always; baseline.json only when there is none (the first run's stays)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    latest = RESULTS / "latest.json"
    latest.write_text(json.dumps(results, indent=2) + "\n")
    baseline = RESULTS / "baseline.json"
    if not baseline.exists():
        shutil.copyfile(latest, baseline)
        print(f"wrote {baseline.relative_to(ROOT)} (first run: it stays as the baseline)")
    print(f"wrote {latest.relative_to(ROOT)}")
    return json.loads(baseline.read_text())


async def main_async(config: Config) -> int:
    bench = Bench(config)
    try:
        results = await bench.run()
    except checks.MoneyMissing as missing:
        print(f"\nMONEY MISSING: {missing}", file=sys.stderr)
        return 1
    except (BenchFailed, SeedFailed) as failed:
        print(f"\nbenchmark failed: {failed}", file=sys.stderr)
        return 1
    except (OSError, asyncpg.PostgresError) as error:
        print(f"\nbenchmark failed: PostgreSQL at {config.url}: {error}", file=sys.stderr)
        return 1
    finally:
        await bench.close()
    baseline = write_results(results)
    print()
    print(report.render(results, baseline))
    return 0


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    try:
        check_database_allowed(config.url)
    except BenchDatabaseRefused as refused:
        print(f"bench: {refused}", file=sys.stderr)
        return 2
    raise_open_files_limit()
    return asyncio.run(main_async(config))


if __name__ == "__main__":
    sys.exit(main())

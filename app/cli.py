"""The ``coins`` command: serve, settle, migrate, seed, users, staff, token, export-schema,
ledger, fraud, google."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from app.core.database import create_engine, is_sqlite, use_engine
from app.core.errors import DomainError
from app.settings import Settings, SettingsError

Handler = Callable[[argparse.Namespace, Settings], Awaitable[int] | int]


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "handler"):
        parser.print_help()
        return 2
    try:
        settings = Settings.from_env()
    except SettingsError as error:
        print(f"coins: {error}", file=sys.stderr)
        return 2
    if getattr(args, "needs_database", True):
        use_engine(create_engine(settings.database), settings.database.retry_attempts)
    try:
        outcome = args.handler(args, settings)
        code = asyncio.run(outcome) if asyncio.iscoroutine(outcome) else outcome
    except DomainError as error:
        where = f" ({error.field})" if error.field else ""
        print(f"coins: {error.code.value}{where}: {error.message}", file=sys.stderr)
        return 1
    return int(code or 0)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="coins", description=__doc__)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    serve = commands.add_parser("serve", help="serve the API, GraphiQL and the admin")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(handler=_serve, needs_database=False)

    settle = commands.add_parser(
        "settle",
        help="settle queued gifts until stopped (COINS_SETTLER=process: coins serve starts it)",
    )
    settle.add_argument(
        "--poll-ms", type=int, default=20, help="how often to look for queued gifts (1-60000)"
    )
    settle.add_argument(
        "--nice",
        type=int,
        default=10,
        help="lower this process's CPU priority by this much (0-19): requests come first",
    )
    settle.add_argument(
        "--parent-pid",
        type=int,
        help="stop (settling what is left) once this process is no longer the parent",
    )
    settle.set_defaults(handler=_settle)

    migrate = commands.add_parser("migrate", help="create or upgrade the database tables")
    migrate.set_defaults(handler=_migrate)

    seed = commands.add_parser("seed", help="add the demo users and catalog (idempotent)")
    seed.set_defaults(handler=_seed)

    users = commands.add_parser("users", help="manage users").add_subparsers(metavar="ACTION")
    create = users.add_parser("create", help="create a user; the password is read from stdin")
    create.add_argument("handle")
    create.add_argument("--birth-date", required=True, help="ISO date, e.g. 2001-04-30")
    create.add_argument("--display-name")
    create.set_defaults(handler=_users_create)
    show = users.add_parser("show", help="show a user and their balances")
    show.add_argument("handle")
    show.set_defaults(handler=_users_show)

    staff = commands.add_parser("staff", help="manage admin staff").add_subparsers(metavar="ACTION")
    staff_create = staff.add_parser("create", help="create a staff account; password on stdin")
    staff_create.add_argument("handle")
    staff_create.add_argument(
        "--role", required=True, choices=["ADMIN", "CATALOG", "MODERATOR", "FINANCE"]
    )
    staff_create.add_argument("--display-name")
    staff_create.set_defaults(handler=_staff_create)

    statement = commands.add_parser("statement", help="a creator's monthly diamond statement")
    statement.add_argument("handle")
    statement.add_argument("--month", required=True, help="YYYY-MM (UTC)")
    statement.add_argument("--csv", action="store_true", help="CSV instead of text")
    statement.set_defaults(handler=_statement)

    token = commands.add_parser("token", help="print a bearer token for a user (development)")
    token.add_argument("handle")
    token.set_defaults(handler=_token)

    export = commands.add_parser("export-schema", help="write the GraphQL schema (SDL)")
    export.add_argument("--output", type=Path, default=Path("schema.graphql"))
    export.add_argument("--check", action="store_true", help="fail if the file is stale")
    export.set_defaults(handler=_export_schema, needs_database=False)

    ledger = commands.add_parser("ledger", help="ledger tools").add_subparsers(metavar="ACTION")
    verify = ledger.add_parser("verify", help="check every ledger invariant; non-zero on a breach")
    verify.set_defaults(handler=_ledger_verify)

    fraud = commands.add_parser("fraud", help="fraud review").add_subparsers(metavar="ACTION")
    scan = fraud.add_parser("scan", help="run every fraud rule over recent activity (repeatable)")
    scan.set_defaults(handler=_fraud_scan)

    google = commands.add_parser("google", help="Google Play").add_subparsers(metavar="ACTION")
    poll = google.add_parser(
        "poll-voided", help="claw back purchases Google voided (refunds; repeatable, for cron)"
    )
    poll.add_argument("--days", type=int, default=30, help="window to read, 1 to 30 days")
    poll.set_defaults(handler=_google_poll_voided)
    return parser


LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")


def serve_options(settings: Settings) -> dict[str, object]:
    """uvicorn's settings that are the app's: a WebSocket message is a GraphQL request too
    (``subscribe``), bounded like an HTTP body (uvicorn's own default is 16 MB)."""
    return {"proxy_headers": True, "ws_max_size": settings.graphql.max_body_bytes}


_MULTIPROCESS = "PROMETHEUS_MULTIPROC_DIR"
# What prometheus-client writes there: ``counter_<pid>.db``, ``histogram_<pid>.db``, ...
_METRIC_FILES = ("counter_*.db", "histogram_*.db", "gauge_*.db", "summary_*.db")


@contextmanager
def worker_metrics(workers: int) -> Iterator[None]:
    """Several workers count into prometheus-client's multiprocess directory, so that a
    scrape, which reaches one of them, adds up all of them. The operator's
    ``PROMETHEUS_MULTIPROC_DIR`` is emptied of an earlier run's counts (prometheus-client
    asks for that); without one, a fresh directory lives as long as the workers. Set
    before uvicorn starts the workers, whose ``prometheus_client`` reads it on import."""
    if workers < 2:
        yield
        return
    given = os.environ.get(_MULTIPROCESS)
    if given:
        for pattern in _METRIC_FILES:
            for stale in Path(given).glob(pattern):
                stale.unlink(missing_ok=True)
        yield
        return
    with tempfile.TemporaryDirectory(prefix="coins-metrics-") as directory:
        os.environ[_MULTIPROCESS] = directory
        try:
            yield
        finally:
            os.environ.pop(_MULTIPROCESS, None)


@contextmanager
def settle_process(
    settings: Settings, *, restart_s: float = 1.0, max_restart_s: float = 30.0
) -> Iterator[None]:
    """With ``COINS_SETTLER=process``, one ``coins settle`` beside the workers for as long as
    they serve, started again if it stops: gifts queue up meanwhile (exact reads count the
    queue, payouts wait for settled diamonds), so its death delays credits, it loses none.
    A child that fails quickly (a database down at start) is restarted after twice the
    wait of the last, up to ``max_restart_s``; one that ran a minute starts the count over."""
    if settings.settler != "process":
        yield
        return
    import structlog

    log = structlog.get_logger(__name__)
    stopping = threading.Event()
    lock = threading.Lock()
    children: list[subprocess.Popen[bytes]] = []
    command = [sys.executable, "-m", "app.cli", "settle", "--parent-pid", str(os.getpid())]

    def supervise() -> None:
        wait_s = restart_s
        while True:
            with lock:
                if stopping.is_set():
                    return
                started = time.monotonic()
                try:
                    # Its own session: a Ctrl+C or a signal to the server's process group
                    # is for the server, which stops it in turn. It also watches for its
                    # parent (``--parent-pid``): uvicorn ends a SIGTERM'd server by raising
                    # the signal again, and the ``finally`` below never runs then.
                    child = subprocess.Popen(command, start_new_session=True)  # noqa: S603
                except OSError as error:
                    log.error("settler.not_started", reason=str(error), retry_in_s=wait_s)
                    child = None
                else:
                    children[:] = [child]
            code = child.wait() if child is not None else None
            if stopping.is_set():
                return
            if time.monotonic() - started > 60:
                wait_s = restart_s
            if child is not None:
                log.error("settler.stopped", exit_code=code, restart_in_s=wait_s)
            stopping.wait(wait_s)
            wait_s = min(wait_s * 2, max_restart_s)

    supervisor = threading.Thread(target=supervise, name="settle-supervisor", daemon=True)
    supervisor.start()
    try:
        yield
    finally:
        with lock:
            stopping.set()
        for child in children:
            child.terminate()  # it settles what is left, then exits
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()
        supervisor.join(timeout=5)


async def _settle(args: argparse.Namespace, settings: Settings) -> int:
    """Settles until SIGTERM or SIGINT (or its ``--parent-pid`` is gone), then settles what
    is left and exits."""
    import structlog

    from app.core.database import close_pool, current_engine, open_pool
    from app.core.logging import configure_logging
    from app.gifts.settlement import Settler

    if not 1 <= args.poll_ms <= 60_000:
        print("coins: --poll-ms is 1 to 60000", file=sys.stderr)
        return 2
    if not 0 <= args.nice <= 19:
        print("coins: --nice is 0 to 19", file=sys.stderr)
        return 2
    configure_logging(settings)
    log = structlog.get_logger(__name__)
    os.nice(args.nice)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(number, stop.set)
    engine = current_engine()
    try:
        await open_pool(engine, 2)
    except Exception as error:  # the database is down or full: the supervisor retries
        log.error("settler.database_unavailable", reason=f"{type(error).__name__}: {error}")
        return 1
    watching: asyncio.Task[None] | None = None
    try:
        if args.parent_pid is not None:
            watching = asyncio.create_task(_until_orphaned(args.parent_pid, stop))
        # Nobody wakes this settler: it looks every ``poll_ms``, so a gift is credited
        # within that plus one batch (exact reads count what is still queued meanwhile).
        settler = Settler(gather_s=0.0, idle_s=args.poll_ms / 1000)
        settler.start()
        log.info("settler.started", poll_ms=args.poll_ms, nice=args.nice)
        await stop.wait()
        await settler.stop()
    finally:
        if watching is not None:
            watching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watching
        await close_pool(engine)
    log.info("settler.stopped_cleanly")
    return 0


async def _until_orphaned(parent_pid: int, stop: asyncio.Event) -> None:
    """Stop once ``parent_pid`` is no longer the parent: the server that started this
    settler died without stopping it (a SIGKILL, or uvicorn's re-raised SIGTERM)."""
    while os.getppid() == parent_pid:  # noqa: ASYNC110 - no event says a parent died
        await asyncio.sleep(0.5)
    stop.set()


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    """Development defaults (sandbox receipts credit free coins, GraphiQL) stay on this
    machine: serving beyond loopback needs COINS_ENV said out loud."""
    import uvicorn

    if not os.environ.get("COINS_ENV") and args.host not in LOOPBACK_HOSTS:
        print(
            f"coins: refusing to serve on {args.host} in development: sandbox receipts would "
            "credit free coins to anyone who can reach it. Set COINS_ENV=production (or "
            "COINS_ENV=development to accept that), or serve on 127.0.0.1.",
            file=sys.stderr,
        )
        return 2

    from app.core.logging import configure_logging

    # uvicorn's own logging config would give its loggers plain-text handlers; without it
    # they propagate to the structlog handler (JSON in production), here in the supervisor
    # and in each worker, where ``create_app`` configures it again.
    configure_logging(settings)
    with worker_metrics(args.workers), settle_process(settings):
        uvicorn.run(
            "app.main:create_app",
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            **serve_options(settings),  # type: ignore[arg-type]
            log_config=None,
        )
    return 0


async def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    from piccolo.apps.migrations.commands.forwards import run_forwards

    from app.core.database import current_engine
    from app.ledger import ensure_system_accounts

    if is_sqlite():
        # WAL lets readers go on while one writer commits; the setting lives in the file.
        await current_engine().run_ddl("PRAGMA journal_mode=WAL")
    result = await run_forwards("all")
    if not result.success:
        print(f"coins: migration failed: {result.message}", file=sys.stderr)
        return 1
    await ensure_system_accounts(settings.ledger.system_account_shards)
    print("database is up to date")
    return 0


async def _seed(args: argparse.Namespace, settings: Settings) -> int:
    from app.seed import seed

    if settings.is_production:
        print("coins: refusing to seed demo users in production", file=sys.stderr)
        return 2
    done = await seed(settings.economy.creator_share)
    print("\n".join(f"added {line}" for line in done) or "demo data already present")
    return 0


def _read_password() -> str:
    if sys.stdin.isatty():
        return getpass.getpass("Password (10+ characters): ")
    return sys.stdin.readline().rstrip("\n")


async def _staff_create(args: argparse.Namespace, settings: Settings) -> int:
    from app.staff.service import create_staff

    staff = await create_staff(args.handle, _read_password(), args.role, args.display_name)
    print(f"created staff {staff.handle} ({staff.role.value})")
    return 0


async def _users_create(args: argparse.Namespace, settings: Settings) -> int:
    from app.users.service import sign_up

    password = _read_password()
    user = await sign_up(
        handle=args.handle,
        password=password,
        birth_date=args.birth_date,
        display_name=args.display_name,
    )
    print(f"created user {user.handle} (id {user.id})")
    return 0


async def _users_show(args: argparse.Namespace, settings: Settings) -> int:
    from app.ledger import user_balances
    from app.users.service import find_by_handle

    user = await find_by_handle(args.handle)
    if user is None:
        print(f"coins: no user {args.handle!r}", file=sys.stderr)
        return 1
    balances = (await user_balances([user.id]))[user.id]
    print(
        f"{user.handle} (id {user.id}) {user.display_name!r} "
        f"adult={user.is_adult} frozen={user.frozen}"
    )
    print(
        "  "
        + "  ".join(f"{currency.value.lower()}s={amount}" for currency, amount in balances.items())
    )
    return 0


async def _statement(args: argparse.Namespace, settings: Settings) -> int:
    from app.payouts.statements import creator_statement, render_csv, render_text
    from app.users.service import find_by_handle

    user = await find_by_handle(args.handle)
    if user is None:
        print(f"coins: no user {args.handle!r}", file=sys.stderr)
        return 1
    statement = await creator_statement(user, args.month, settings.economy)
    print(render_csv(statement) if args.csv else render_text(statement), end="")
    return 0


async def _token(args: argparse.Namespace, settings: Settings) -> int:
    from app.users.service import find_by_handle
    from app.users.tokens import issue_token

    user = await find_by_handle(args.handle)
    if user is None:
        print(f"coins: no user {args.handle!r}", file=sys.stderr)
        return 1
    print(issue_token(user.id, settings.auth))
    return 0


def _export_schema(args: argparse.Namespace, settings: Settings) -> int:
    from app.graphql.schema import schema_sdl

    sdl = schema_sdl()
    if args.check:
        current = args.output.read_text() if args.output.exists() else ""
        if current != sdl:
            print(f"{args.output} is stale: run `make schema` and commit it", file=sys.stderr)
            return 1
        print(f"{args.output} is up to date")
        return 0
    args.output.write_text(sdl)
    print(f"wrote {args.output}")
    return 0


async def _ledger_verify(args: argparse.Namespace, settings: Settings) -> int:
    from app.integrity import verify_all

    report = await verify_all()
    for breach in report.breaches:
        print(f"BREACH {breach}")
    summary = (
        f"{report.accounts} accounts, {report.transfers} transfers, {report.operations} operations"
    )
    if report.ok:
        print(f"ledger OK: {summary}")
        return 0
    print(f"ledger FAILED: {len(report.breaches)} breach(es) in {summary}", file=sys.stderr)
    return 1


async def _fraud_scan(args: argparse.Namespace, settings: Settings) -> int:
    from app.fraud.rules import scan

    report = await scan(settings.fraud, maturation_days=settings.economy.earnings_maturation_days)
    print(f"fraud scan: {report.checks} checks, {report.flags_raised} new flag(s)")
    return 0


async def _google_poll_voided(args: argparse.Namespace, settings: Settings) -> int:
    from app.purchases.google_play import poll_voided_purchases
    from app.purchases.verifiers.google import GoogleNotConfigured, GoogleUnavailable

    try:
        poll = await poll_voided_purchases(settings.payments, days=args.days)
    except (GoogleNotConfigured, GoogleUnavailable) as error:
        print(f"coins: {error}", file=sys.stderr)
        return 1
    print(
        f"google voided purchases: {poll.voided} voided, {poll.clawed_back} clawed back, "
        f"{poll.unknown} not credited here"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

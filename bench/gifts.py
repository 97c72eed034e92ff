"""Benchmark the hot path: concurrent ``sendGift`` through the GraphQL HTTP API.

Starts the real app (uvicorn, in a thread) on a fresh database, funds viewers, puts one
creator live, then sends gifts from ``--concurrency`` clients until ``--sends`` have gone
through. Reports throughput, latency percentiles, peak memory, and checks that the ledger
still verifies and that every coin is accounted for. Bounded in count and time; loopback only.

    python -m bench.gifts --database sqlite --sends 600 --concurrency 16
    python -m bench.gifts --database postgresql://postgres@127.0.0.1:5432/bench
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import socket
import statistics
import sys
import tempfile
import threading
import time
from fractions import Fraction
from pathlib import Path

import asyncpg
import httpx
import uvicorn

from app.core.database import create_engine, use_engine
from app.main import create_app
from app.settings import AuthSettings, DatabaseSettings, Settings

SEND = """
mutation ($stream: ID!, $gift: ID!, $key: String!) {
  sendGift(input: {streamId: $stream, giftId: $gift, quantity: 1, idempotencyKey: $key}) {
    giftEvent { id } errors { code }
  }
}
"""


async def prepare(url: str, viewers: int, coins_each: int) -> tuple[list[str], str, str, int]:
    from piccolo.apps.migrations.commands.forwards import run_forwards

    from app.core.ids import encode_id
    from app.gifts import catalog
    from app.ledger import ensure_system_accounts
    from app.streams import service as streams
    from tests.factories import fund, make_user

    use_engine(create_engine(DatabaseSettings(url=url)))
    await run_forwards("all")
    await ensure_system_accounts()
    settings = settings_for(url)
    from app.users.tokens import issue_token

    host = await make_user("bench.host")
    stream = await streams.start_stream(host.id, "Benchmark")
    gift = await catalog.create_gift(
        slug="bench-rose", name="Rose", coin_cost=1, creator_share=Fraction(1, 2)
    )
    tokens = []
    for n in range(viewers):
        viewer = await make_user(f"bench.viewer{n}")
        await fund(viewer.id, coins_each)
        tokens.append(issue_token(viewer.id, settings.auth))
    return tokens, encode_id("LiveStream", stream.id), encode_id("Gift", gift.id), host.id


def settings_for(url: str) -> Settings:
    return Settings(
        env="test",
        database=DatabaseSettings(url=url, pool_max_size=20),
        auth=AuthSettings(jwt_secret="bench-secret-that-is-long-enough-0123456789"),  # noqa: S106
    )


async def reset_postgres(url: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    finally:
        await connection.close()


def serve(settings: Settings) -> tuple[uvicorn.Server, str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise SystemExit("server did not start")
        time.sleep(0.05)
    return server, f"http://127.0.0.1:{port}"


async def load(
    base: str,
    tokens: list[str],
    stream: str,
    gift: str,
    sends: int,
    concurrency: int,
    limit_s: float,
):
    latencies: list[float] = []
    errors: dict[str, int] = {}
    counter = iter(range(sends))
    deadline = time.monotonic() + limit_s

    async def client(number: int) -> None:
        token = tokens[number % len(tokens)]
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            for n in counter:
                if time.monotonic() > deadline:
                    return
                started = time.perf_counter()
                response = await http.post(
                    "/graphql",
                    json={
                        "query": SEND,
                        "variables": {"stream": stream, "gift": gift, "key": f"b{n}"},
                    },
                    headers={"Authorization": f"Bearer {token}"},
                )
                latencies.append(time.perf_counter() - started)
                body = response.json()
                for error in body.get("data", {}).get("sendGift", {}).get("errors", []) or body.get(
                    "errors", []
                ):
                    key = error.get("code", error.get("message", "?"))
                    errors[key] = errors.get(key, 0) + 1

    started = time.perf_counter()
    await asyncio.gather(*(client(i) for i in range(concurrency)))
    return time.perf_counter() - started, latencies, errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--database", default="sqlite", help="'sqlite' or a PostgreSQL URL (its schema is dropped)"
    )
    parser.add_argument("--sends", type=int, default=600)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--viewers", type=int, default=16)
    parser.add_argument("--time-limit-s", type=float, default=120)
    args = parser.parse_args(argv)

    if args.database == "sqlite":
        url = f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench.sqlite3'}"
    else:
        url = args.database
        asyncio.run(reset_postgres(url))
    coins_each = args.sends  # enough for every send to succeed
    tokens, stream, gift, host_id = asyncio.run(prepare(url, args.viewers, coins_each))
    server, base = serve(settings_for(url))
    try:
        elapsed, latencies, errors = asyncio.run(
            load(base, tokens, stream, gift, args.sends, args.concurrency, args.time_limit_s)
        )
    finally:
        server.should_exit = True

    from app.ledger import user_balances
    from app.ledger.verify import verify_ledger

    use_engine(create_engine(DatabaseSettings(url=url)))
    report = asyncio.run(verify_ledger())
    diamonds = asyncio.run(user_balances([host_id]))[host_id]
    done = len(latencies)
    ok = done - sum(errors.values())
    quantiles = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0] * 99
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    engine = "sqlite" if url.startswith("sqlite") else "postgresql"
    print(f"sendGift over HTTP on {engine}: {done} requests, {args.concurrency} concurrent clients")
    print(f"  throughput   {done / elapsed:8.1f} sends/s   ({elapsed:.2f} s)")
    print(
        f"  latency ms   p50 {quantiles[49] * 1000:7.1f}   "
        f"p95 {quantiles[94] * 1000:7.1f}   p99 {quantiles[98] * 1000:7.1f}"
    )
    print(f"  peak RSS     {peak_mb:8.1f} MiB (benchmark process: app + load generator)")
    print(f"  succeeded    {ok}; errors {errors or 'none'}")
    print(
        f"  host diamonds {diamonds['DIAMOND']} (expected {ok}); "
        f"ledger verify: {'OK' if report.ok else report.breaches}"
    )
    return 0 if report.ok and diamonds["DIAMOND"] == ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""The load generator: a lean process of its own, apart from the app it measures.

``python -m bench.loadgen SPEC.json`` runs one phase (or a closed loop and then an open
loop at half its rate) and prints, on stdout, ``WINDOW START`` and ``WINDOW END`` when the
closed loop's measured window opens and closes (the orchestrator reads the CPU counters of
the app and of PostgreSQL at those moments), then ``RESULT {json}``.

Two kinds of target:
- ``http``: raw HTTP/1.1 over keep-alive asyncio streams. Request bytes are built before
  the clock starts; a send only splices its fixed-width idempotency key in. No HTTP client
  library, no JSON encoding or decoding per request: success is a marker in the body.
- ``floor``: the database floor. One transaction per request on a raw asyncpg connection:
  a conditional debit, a credit and a transfer row, on tables of the benchmark's own.

Modes:
- ``closed``: ``clients`` loops each send a request as soon as the previous one answered;
  after a warm-up (``warmup_s``, and at least as many answers as clients), requests
  completed within the next ``duration_s`` give the throughput.
- ``open``: requests start on a fixed schedule at ``rate`` per second over ``duration_s``,
  whatever the answers; latency is measured from the scheduled start, so a backlog shows
  as latency (no coordinated omission). Connections come from a pool of ``clients``. The
  schedule starts ``warmup_s`` earlier, at the same rate, unmeasured.
- ``ordinary``: several open loops at once (``loops``: name -> templates, rate, connections,
  marker), the ordinary requests whose latency the floods of issue 13 are measured by
  (``bench.floods``). A loop with ``record_ids`` also returns, for each gift it sent, when
  its request was written (``time.monotonic()``, one clock for the machine's processes).

This module imports nothing from the app.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bench.stats import latency_summary

# The floor's transaction: what a gift must do at the very least, in plain SQL.
FLOOR_DEBIT = (
    "UPDATE bench_floor_account SET balance = balance - $2 "
    "WHERE id = $1 AND balance >= $2 RETURNING balance"
)
FLOOR_CREDIT = (
    "UPDATE bench_floor_account SET balance = balance + $2 WHERE id = $1 RETURNING balance"
)
FLOOR_TRANSFER = (
    "INSERT INTO bench_floor_transfer (debit_account_id, credit_account_id, amount, "
    "debit_balance_after, credit_balance_after) VALUES ($1, $2, $3, $4, $5)"
)


class HttpError(Exception):
    """The server closed the connection or answered something that is not HTTP/1.1."""


def parse_head(head: bytes) -> tuple[int, int | None, bool]:
    """(status, content length or None, chunked) of a response head ending in CRLF CRLF."""
    if not head.startswith(b"HTTP/1."):
        raise HttpError(f"not an HTTP/1 response: {head[:40]!r}")
    status = int(head[9:12])
    length = None
    chunked = False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value.strip())
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    return status, length, chunked


class HttpConnection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, host: str, port: int) -> HttpConnection:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def request(self, data: bytes) -> tuple[int, bytes]:
        self.writer.write(data)
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError) as error:
            raise HttpError("connection closed") from error
        status, length, chunked = parse_head(head)
        if chunked:
            body = bytearray()
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                chunk = await self.reader.readexactly(size + 2)
                if size == 0:
                    break
                body += chunk[:-2]
            return status, bytes(body)
        return status, await self.reader.readexactly(length or 0)

    def close(self) -> None:
        self.writer.close()


@dataclass
class Tally:
    """What came back: inside the measured window, and in all (for the money checks)."""

    latencies_s: list[float] = field(default_factory=list)
    ok: int = 0
    failed: int = 0
    all_ok: int = 0
    all_failed: int = 0
    failure_samples: list[str] = field(default_factory=list)

    def record(self, latency_s: float, ok: bool, detail: str = "", *, in_window: bool) -> None:
        if ok:
            self.all_ok += 1
        else:
            self.all_failed += 1
            if len(self.failure_samples) < 3:
                self.failure_samples.append(detail[:300])
        if in_window:
            self.latencies_s.append(latency_s)
            if ok:
                self.ok += 1
            else:
                self.failed += 1

    def totals(self, unfinished: int) -> dict[str, Any]:
        return {
            "all_ok": self.all_ok,
            "all_failed": self.all_failed,
            "unfinished": unfinished,
            "failure_samples": self.failure_samples,
        }


class Requests:
    """Pre-built requests, cycled in order; sends get a fresh idempotency key each."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.key_prefix = spec.get("key_prefix", "")
        self.key_digits = int(spec.get("key_digits", 0))
        self.templates = [
            (head.encode(), tail.encode() if tail is not None else None)
            for head, tail in spec["templates"]
        ]
        self.position = 0

    def next(self) -> bytes:
        head, tail = self.templates[self.position % len(self.templates)]
        self.position += 1
        if tail is None:
            return head
        key = f"{self.key_prefix}{self.position:0{self.key_digits}d}".encode()
        return head + key + tail


Attempt = Callable[[], Awaitable[tuple[bool, str]]]
TRANSPORT_ERRORS = (HttpError, OSError, asyncio.IncompleteReadError)


Closer = Callable[[], Awaitable[None]]


async def http_attempts(spec: dict[str, Any], count: int) -> tuple[list[Attempt], Closer]:
    """``count`` independent request loops over keep-alive connections."""
    requests = Requests(spec)
    marker = spec["ok_marker"].encode()
    connections = [await HttpConnection.open(spec["host"], spec["port"]) for _ in range(count)]

    def attempt_on(connection: HttpConnection) -> Attempt:
        async def attempt() -> tuple[bool, str]:
            status, body = await connection.request(requests.next())
            if status == 200 and marker in body:
                return True, ""
            return False, f"{status} {body[:240].decode(errors='replace')}"

        return attempt

    async def close() -> None:
        for connection in connections:
            connection.close()

    return [attempt_on(c) for c in connections], close


async def floor_attempts(spec: dict[str, Any], count: int) -> tuple[list[Attempt], Closer]:
    """``count`` loops sharing ``pool_size`` dedicated connections (no pool reset between)."""
    import asyncpg

    from bench import pg

    connections = [await pg.connect(spec["dsn"]) for _ in range(spec["pool_size"])]
    idle: asyncio.Queue[asyncpg.Connection] = asyncio.Queue()
    for connection in connections:
        idle.put_nowait(connection)
    pairs = spec["pairs"]
    position = 0

    async def attempt() -> tuple[bool, str]:
        nonlocal position
        debit, credit = pairs[position % len(pairs)]
        position += 1
        connection = await idle.get()
        try:
            async with connection.transaction():
                debited = await connection.fetchval(FLOOR_DEBIT, debit, 1)
                if debited is None:
                    raise LookupError(f"account {debit} cannot cover the amount")
                credited = await connection.fetchval(FLOOR_CREDIT, credit, 1)
                await connection.execute(FLOOR_TRANSFER, debit, credit, 1, debited, credited)
        except (LookupError, asyncpg.PostgresError) as error:
            return False, f"{type(error).__name__}: {error}"
        finally:
            idle.put_nowait(connection)
        return True, ""

    async def close() -> None:
        for connection in connections:
            try:
                await connection.close(timeout=5)
            except (asyncpg.InterfaceError, OSError, TimeoutError):
                connection.terminate()  # still busy with a request that timed out

    return [attempt] * count, close


def cpu_s() -> float:
    """This process's CPU time (user + system): for the floor it is the client's cost."""
    return time.process_time()


async def closed_loop(spec: dict[str, Any], attempts: list[Attempt]) -> dict[str, Any]:
    tally = Tally()
    window: list[float] = []  # [start, end] once known
    answered_by_all = asyncio.Event()
    stop = False

    async def client(attempt: Attempt) -> None:
        while not stop:
            started = time.perf_counter()
            try:
                ok, detail = await attempt()
                broken = False
            except TRANSPORT_ERRORS as error:
                ok, detail = False, f"{type(error).__name__}: {error}"
                broken = True  # its connection is gone
            finished = time.perf_counter()
            # Throughput counts what completed inside the window, whenever it started.
            in_window = (
                bool(window)
                and window[0] <= finished
                and (len(window) == 1 or finished <= window[1])
            )
            tally.record(finished - started, ok, detail, in_window=in_window)
            if tally.all_ok + tally.all_failed >= len(attempts):
                answered_by_all.set()
            if broken:
                return

    tasks = [asyncio.create_task(client(a)) for a in attempts]
    # Warm until every client has had an answer (a steady state: on a slow machine the
    # first round of requests takes longer than any fixed warm-up), at least warmup_s.
    await asyncio.sleep(spec["warmup_s"])
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(answered_by_all.wait(), spec.get("max_warmup_s", 60))
    print("WINDOW START", flush=True)
    cpu_before = cpu_s()
    window.append(time.perf_counter())
    await asyncio.sleep(spec["duration_s"])
    window.append(time.perf_counter())
    cpu_after = cpu_s()
    print("WINDOW END", flush=True)
    stop = True
    _, unfinished = await asyncio.wait(tasks, timeout=spec.get("timeout_s", 30))
    elapsed = window[1] - window[0]
    return {
        "mode": "closed",
        "clients": len(attempts),
        "elapsed_s": round(elapsed, 4),
        "ok": tally.ok,
        "failed": tally.failed,
        "throughput_per_s": round(tally.ok / elapsed, 2),
        "latency_ms": latency_summary(tally.latencies_s),
        "client_cpu_ms": round((cpu_after - cpu_before) * 1000, 1),
        **tally.totals(len(unfinished)),
    }


async def open_loop(spec: dict[str, Any], attempts: list[Attempt]) -> dict[str, Any]:
    rate = float(spec["rate"])
    total = max(1, int(rate * spec["duration_s"]))
    # The schedule runs ``warmup_s`` before the measured window: the closed loop before it
    # leaves a backlog (its queued settlements and fraud checks), and what is measured is
    # the app at this rate, not its recovery from the overload.
    warmup = int(rate * spec.get("warmup_s", 0))
    idle: asyncio.Queue[Attempt] = asyncio.Queue()
    for attempt in attempts:
        idle.put_nowait(attempt)
    tally = Tally()
    loop = asyncio.get_running_loop()

    async def one(scheduled: float, in_window: bool) -> None:
        attempt = await idle.get()
        try:
            ok, detail = await attempt()
        except TRANSPORT_ERRORS as error:
            # The connection is gone: record the failure and leave it out of the pool.
            failure = f"{type(error).__name__}: {error}"
            tally.record(loop.time() - scheduled, False, failure, in_window=in_window)
            return
        idle.put_nowait(attempt)
        tally.record(loop.time() - scheduled, ok, detail, in_window=in_window)

    _keep_time()
    cpu_before = cpu_s()
    start = loop.time() + 0.01 + warmup / rate
    tasks = []
    for n in range(-warmup, total):
        scheduled = start + n / rate
        delay = scheduled - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(scheduled, n >= 0)))
    issued = loop.time()
    _, unfinished = await asyncio.wait(tasks, timeout=spec.get("timeout_s", 30))
    finished = loop.time()
    cpu_after = cpu_s()
    return {
        "mode": "open",
        "rate_per_s": round(rate, 2),
        "achieved_rate_per_s": round(total / max(issued - start, 1e-9), 2),
        "elapsed_s": round(finished - start, 4),
        "ok": tally.ok,
        "failed": tally.failed,
        "latency_ms": latency_summary(tally.latencies_s),
        "client_cpu_ms": round((cpu_after - cpu_before) * 1000, 1),
        **tally.totals(len(unfinished)),
    }


async def paced_loop(
    spec: dict[str, Any], loop_spec: dict[str, Any], start: float
) -> dict[str, Any]:
    """One open loop of the ``ordinary`` mode: ``rate`` per second from ``start`` (monotonic)
    over ``duration_s``; a broken connection is replaced, its request failed."""
    requests = Requests(loop_spec)
    marker = loop_spec["ok_marker"].encode()
    # The marker ends at a key ('"giftEvent":{"id"'): its value is the event's ID.
    id_pattern = re.compile(re.escape(marker) + rb'\s*:\s*"([^"]+)"')
    record_ids = bool(loop_spec.get("record_ids"))
    rate = float(loop_spec["rate"])
    total = max(1, int(rate * spec["duration_s"]))
    idle: asyncio.Queue[HttpConnection | None] = asyncio.Queue()
    for _ in range(loop_spec["connections"]):
        idle.put_nowait(None)  # opened on first use
    tally = Tally()
    sent_at: dict[str, float] = {}

    async def one(scheduled: float) -> None:
        connection = await idle.get()
        try:
            if connection is None:
                connection = await HttpConnection.open(spec["host"], spec["port"])
            written = time.monotonic()
            status, body = await connection.request(requests.next())
        except TRANSPORT_ERRORS as error:
            if connection is not None:
                connection.close()
            idle.put_nowait(None)
            tally.record(time.monotonic() - scheduled, False, f"{error!r}", in_window=True)
            return
        idle.put_nowait(connection)
        ok = status == 200 and marker in body
        if ok and record_ids and (found := id_pattern.search(body)):
            sent_at[found.group(1).decode()] = written
        detail = "" if ok else f"{status} {body[:240].decode(errors='replace')}"
        tally.record(time.monotonic() - scheduled, ok, detail, in_window=True)

    tasks = []
    for n in range(total):
        scheduled = start + n / rate
        delay = scheduled - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(scheduled)))
    _, unfinished = await asyncio.wait(tasks, timeout=spec.get("timeout_s", 30))
    while not idle.empty():
        if (connection := idle.get_nowait()) is not None:
            connection.close()
    result = {
        "rate_per_s": rate,
        "ok": tally.ok,
        "failed": tally.failed,
        "latency_ms": latency_summary(tally.latencies_s),
        **tally.totals(len(unfinished)),
    }
    if record_ids:
        result["sent_at"] = sent_at
    return result


async def ordinary(spec: dict[str, Any]) -> dict[str, Any]:
    """The ordinary loops side by side, from one start."""
    start = time.monotonic() + 0.05
    names = list(spec["loops"])
    results = await asyncio.gather(
        *(paced_loop(spec, spec["loops"][name], start) for name in names)
    )
    return {
        "mode": "ordinary",
        "duration_s": spec["duration_s"],
        **dict(zip(names, results, strict=True)),
    }


async def phase(spec: dict[str, Any]) -> dict[str, Any]:
    make = http_attempts if spec["kind"] == "http" else floor_attempts
    attempts, close = await make(spec, spec["clients"])
    modes = {"closed": closed_loop, "open": open_loop}
    try:
        return await modes[spec["mode"]](spec, attempts)
    finally:
        await close()


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    """One phase, or ``closed+open``: the closed loop, then the open loop at
    ``open_fraction`` of the throughput it measured."""
    if spec["mode"] == "ordinary":
        return await ordinary(spec)
    if spec["mode"] != "closed+open":
        return await phase(spec)
    closed = await phase(spec | {"mode": "closed"})
    rate = max(1.0, closed["throughput_per_s"] * spec["open_fraction"])
    opened = await phase(
        spec
        | {
            "mode": "open",
            "rate": rate,
            "clients": spec["open_connections"],
            "duration_s": spec["open_duration_s"],
            "warmup_s": spec.get("warmup_s", 0),
            "key_prefix": spec.get("open_key_prefix", ""),
        }
    )
    return {"closed": closed, "open": opened}


def _keep_time() -> None:
    """Latency is measured from each request's scheduled start, so when the OS runs this
    process late (two cores shared with the app and PostgreSQL), every request then in
    flight looks late by as much: the open loop runs at a higher priority than the app
    (it uses a few percent of a core). Without the right to (not root), as it is."""
    with contextlib.suppress(OSError):
        os.nice(-10)


def main(argv: list[str]) -> int:
    with open(argv[0]) as file:
        spec = json.load(file)
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        runner = asyncio.run
    result = runner(run(spec))
    print("RESULT " + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

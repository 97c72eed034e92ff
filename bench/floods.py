"""The floods of issue 13: a lean process of their own, apart from the app and from the
process that measures the ordinary requests.

``python -m bench.floods SPEC.json`` starts one flood, prints ``FLOOD READY {json}`` once
it is under way, keeps it up until a ``STOP [json]`` line arrives on stdin, then prints
``RESULT {json}``. Two kinds:

- ``login``: ``clients`` closed loops calling ``logIn`` (one per request, as a script
  would), over many handles, right and wrong passwords, the clients taking turns over
  ``source_addresses`` (loopback addresses of their own, 127.0.1.x: per-IP limits see many
  IPs) with a new connection every ``requests_per_connection`` requests; a connection the
  server closes counts as ``closed`` and the client goes on from the next address. The flood may be
  answered ``RATE_LIMITED``: what it costs the ordinary requests is what matters.
- ``feed``: ``tokens`` subscribers, one WebSocket each (``graphql-transport-ws``), to
  ``giftSent`` of one stream. Ready once every subscriber has heard a warm-up gift (sent
  from here) or ``ready_timeout_s`` has passed. ``STOP {json}``: the gifts the ordinary loop
  sent, ``{event id: monotonic time its request was written}``; the result is
  how many of those reached each subscriber within ``deliver_within_s``.

Times are ``time.monotonic()``: one clock for every process of the machine. This module
imports nothing from the app.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.loadgen import TRANSPORT_ERRORS, HttpConnection, Requests
from bench.stats import latency_summary

SUBSCRIBE = "subscription Feed($stream: ID!) { giftSent(streamId: $stream) { id } }"
# The event's ID in a subscription message and in a sendGift answer, whatever the spacing.
EVENT_ID = re.compile(rb'"giftSent"\s*:\s*\{\s*"id"\s*:\s*"([^"]+)"')
SEND_ID = re.compile(rb'"giftEvent"\s*:\s*\{\s*"id"\s*:\s*"([^"]+)"')
CONNECT_AT_ONCE = 50


# Pure logic (tested in tests/bench/) ----------------------------------------------------


def source_addresses(count: int) -> list[str]:
    """``count`` loopback addresses of the 127.0.1.0/24 block: 127.0.1.1, 127.0.1.2 ..."""
    if not 1 <= count <= 254:
        raise ValueError(f"1 to 254 source addresses, not {count}")
    return [f"127.0.1.{n}" for n in range(1, count + 1)]


def login_outcome(status: int, body: bytes) -> str:
    """What a ``logIn`` answer was: ``token``, ``rate_limited``, ``refused`` (a domain error
    such as wrong credentials) or ``failed`` (anything a client should never see)."""
    if b"RATE_LIMITED" in body or status == 429:
        return "rate_limited"
    if status == 200 and b'"token":"' in body:
        return "token"
    if status == 200 and b'"code":"' in body and b"Unexpected error" not in body:
        return "refused"
    return "failed"


def event_id(pattern: re.Pattern[bytes], body: bytes) -> str | None:
    """The gift event's ID in a message or an answer, None when there is none."""
    found = pattern.search(body)
    return found.group(1).decode() if found else None


def delivery_summary(
    sent_at: Mapping[str, float],
    arrivals: Mapping[str, Sequence[float]],
    *,
    subscribers: int,
    within_s: float,
) -> dict[str, Any]:
    """Of the gifts sent (event id -> when its request was written), the share of
    (gift, subscriber) deliveries that arrived within ``within_s``, and the latency of
    every delivery seen. ``subscribers`` is how many were asked for: one that never
    subscribed missed every gift."""
    expected = len(sent_at) * subscribers
    latencies = []
    on_time = 0
    for event_id, sent in sent_at.items():
        for arrived in arrivals.get(event_id, ()):
            latencies.append(arrived - sent)
            on_time += arrived - sent <= within_s
    return {
        "events": len(sent_at),
        "subscribers": subscribers,
        "expected": expected,
        "delivered": len(latencies),
        "on_time": on_time,
        "on_time_share": round(on_time / expected, 4) if expected else None,
        "within_s": within_s,
        "latency_ms": latency_summary(latencies),
    }


# The logIn flood --------------------------------------------------------------------------


@dataclass
class LoginTally:
    outcomes: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            ("token", "rate_limited", "refused", "closed", "failed"), 0
        )
    )
    latencies_s: list[float] = field(default_factory=list)
    samples: list[str] = field(default_factory=list)

    def record(self, outcome: str, latency_s: float, detail: str = "") -> None:
        self.outcomes[outcome] += 1
        self.latencies_s.append(latency_s)
        if outcome == "failed" and len(self.samples) < 3:
            self.samples.append(detail[:240])


async def login_flood(spec: dict[str, Any], stop: Stop) -> dict[str, Any]:
    requests = Requests(spec)
    addresses = spec["source_addresses"]
    per_connection = int(spec["requests_per_connection"])
    clients = int(spec["clients"])
    tally = LoginTally()
    answered = asyncio.Event()

    async def client(number: int) -> None:
        turn = number
        while not stop.is_set():
            address = addresses[turn % len(addresses)]
            turn += clients
            try:
                reader, writer = await asyncio.open_connection(
                    spec["host"], spec["port"], local_addr=(address, 0)
                )
            except OSError as error:
                tally.record("failed", 0.0, f"connect from {address}: {error}")
                await asyncio.sleep(0.1)
                continue
            connection = HttpConnection(reader, writer)
            started = time.monotonic()
            try:
                for _ in range(per_connection):
                    if stop.is_set():
                        break
                    started = time.monotonic()
                    status, body = await connection.request(requests.next())
                    tally.record(
                        login_outcome(status, body),
                        time.monotonic() - started,
                        f"{status} {body[:200].decode(errors='replace')}",
                    )
                    answered.set()
            except TRANSPORT_ERRORS:
                # The server closed the connection (a limiter may): a fresh one goes on.
                tally.record("closed", time.monotonic() - started)
            finally:
                connection.close()

    started = time.monotonic()
    tasks = [asyncio.create_task(client(n)) for n in range(clients)]
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(answered.wait(), 30)
    print("FLOOD READY " + json.dumps({"clients": clients}), flush=True)
    await stop.wait()
    elapsed = time.monotonic() - started
    _, unfinished = await asyncio.wait(tasks, timeout=30)
    total = sum(tally.outcomes.values())
    return {
        "kind": "login",
        "clients": clients,
        "source_addresses": len(addresses),
        "elapsed_s": round(elapsed, 3),
        "requests": total,
        "rate_per_s": round(total / elapsed, 2) if elapsed else None,
        "outcomes": tally.outcomes,
        "latency_ms": latency_summary(tally.latencies_s),
        "failure_samples": tally.samples,
        "unfinished": len(unfinished),
    }


# The live feed's subscribers --------------------------------------------------------------


@dataclass
class Feed:
    arrivals: dict[str, list[float]] = field(default_factory=dict)
    heard: set[int] = field(default_factory=set)  # subscribers that heard any gift
    acknowledged: int = 0
    refused: list[str] = field(default_factory=list)
    last_arrival: float = 0.0


async def subscriber(
    spec: dict[str, Any], number: int, feed: Feed, gate: asyncio.Semaphore, stop: asyncio.Event
) -> None:
    """One viewer's socket: ``connection_init`` with its token, one ``giftSent``
    subscription, then every message's event ID and arrival time. ``gate`` bounds the
    handshakes in flight (a crowd arriving, not 1,000 at one instant)."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import WebSocketException

    url = f"ws://{spec['host']}:{spec['port']}/graphql"
    await gate.acquire()
    gated = True
    try:
        async with connect(
            url,
            subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
            compression=None,
            ping_interval=None,
            open_timeout=60,
            max_queue=None,
            proxy=None,
        ) as socket:
            init = {"authorization": f"Bearer {spec['tokens'][number]}"}
            await socket.send(json.dumps({"type": "connection_init", "payload": init}))
            ack = await asyncio.wait_for(socket.recv(decode=False), 60)
            if b'"connection_ack"' not in ack:
                feed.refused.append(ack[:200].decode(errors="replace"))
                return
            feed.acknowledged += 1
            payload = {"query": SUBSCRIBE, "variables": {"stream": spec["stream_id"]}}
            await socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
            gate.release()
            gated = False
            while not stop.is_set():
                message = await socket.recv(decode=False)
                arrived = time.monotonic()
                found = event_id(EVENT_ID, message)
                if found is None:
                    if b'"error"' in message or b'"complete"' in message:
                        feed.refused.append(message[:200].decode(errors="replace"))
                        return
                    continue  # a ping
                feed.arrivals.setdefault(found, []).append(arrived)
                feed.heard.add(number)
                feed.last_arrival = arrived
    except (TimeoutError, OSError, WebSocketException) as error:
        if not stop.is_set():
            feed.refused.append(f"{type(error).__name__}: {error}"[:200])
    finally:
        if gated:
            gate.release()


async def warm_up(spec: dict[str, Any], feed: Feed, deadline: float) -> dict[str, Any]:
    """Warm-up gifts until every subscriber has heard one (their subscriptions are live),
    then until the feed has been quiet for half a second (no backlog left for the window)."""
    requests = Requests(spec["warm"])
    sent: dict[str, Any] = {"ok": 0, "failed": 0, "samples": []}
    listening = feed.acknowledged
    connection = await HttpConnection.open(spec["host"], spec["port"])
    try:
        while len(feed.heard) < listening and time.monotonic() < deadline:
            status, body = await connection.request(requests.next())
            if status == 200 and event_id(SEND_ID, body):
                sent["ok"] += 1
            else:
                sent["failed"] += 1
                if len(sent["samples"]) < 3:
                    sent["samples"].append(f"{status} {body[:200].decode(errors='replace')}")
            await poll(lambda: len(feed.heard) >= listening, time.monotonic() + 3)
    finally:
        connection.close()
    quiet_from = time.monotonic()
    await poll(lambda: time.monotonic() - max(feed.last_arrival, quiet_from) > 0.5, deadline + 10)
    return sent


async def poll(condition: Callable[[], bool], deadline: float) -> None:
    """Until ``condition()`` holds or the monotonic ``deadline`` has passed."""
    while True:
        if condition() or time.monotonic() >= deadline:
            return
        await asyncio.sleep(0.05)


async def feed_flood(spec: dict[str, Any], stop: Stop) -> dict[str, Any]:
    feed = Feed()
    listening = asyncio.Event()  # set at STOP: the subscribers stop counting
    gate = asyncio.Semaphore(CONNECT_AT_ONCE)
    started = time.monotonic()
    deadline = started + spec["ready_timeout_s"]
    count = len(spec["tokens"])
    tasks = [asyncio.create_task(subscriber(spec, n, feed, gate, listening)) for n in range(count)]
    # Every socket acknowledged or refused before the first warm-up gift.
    await poll(lambda: feed.acknowledged + len(feed.refused) >= count, deadline)
    subscribed_s = time.monotonic() - started
    warm = await warm_up(spec, feed, deadline)
    ready = {
        "subscribers": count,
        "acknowledged": feed.acknowledged,
        "heard_warm_up": len(feed.heard),
        "subscribed_s": round(subscribed_s, 2),
        "ready_s": round(time.monotonic() - started, 2),
    }
    print("FLOOD READY " + json.dumps(ready), flush=True)
    await stop.wait()
    listening.set()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    sent_at = json.loads(stop.payload) if stop.payload else {}
    return {
        "kind": "feed",
        **ready,
        "refused": len(feed.refused),
        "refusal_samples": feed.refused[:3],
        "warm_up_sends": warm,
        "delivery": delivery_summary(
            sent_at, feed.arrivals, subscribers=count, within_s=float(spec["deliver_within_s"])
        ),
    }


# The process ------------------------------------------------------------------------------


class Stop(asyncio.Event):
    """Set by a ``STOP [json]`` line on stdin (or its end); ``payload`` is the JSON."""

    payload: str | None = None


async def read_stop(stop: Stop) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=16 * 1024 * 1024)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = (await reader.readline()).decode()
        if not line or line.startswith("STOP"):
            parts = line.split(maxsplit=1)
            stop.payload = parts[1] if len(parts) == 2 else None
            stop.set()
            return


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    stop = Stop()
    reader = asyncio.create_task(read_stop(stop))
    flood = {"login": login_flood, "feed": feed_flood}[spec["kind"]]
    try:
        return await asyncio.wait_for(flood(spec, stop), spec.get("max_s", 600))
    finally:
        reader.cancel()


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

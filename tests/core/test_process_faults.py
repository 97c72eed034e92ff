"""The app as a real uvicorn process on PostgreSQL: killed backends then SIGTERM, SIGKILL.

What an operator lives through: a database restart under load must not keep the process
from stopping, and a process killed mid-burst must leave no half-done operation behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from app.core.ids import encode_id
from app.gifts.settlement import settle_all
from app.gifts.tables import GiftCredit, GiftEvent
from app.integrity import verify_all
from app.ledger.tables import Operation
from app.users.tokens import issue_token
from tests.conftest import Database
from tests.core.test_database_faults import SEND, kill_backends
from tests.factories import coins_of, make_gift, make_stream, make_user

pytestmark = pytest.mark.parametrize("db", ["postgres"], indirect=True)

# A hang, not a speed, is what these bound: a healthy app starts and stops in a second or two.
START_TIMEOUT_S = 30
STOP_TIMEOUT_S = 15
_keys = itertools.count(1)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def serving(db: Database, port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "COINS_ENV": "test",
        "COINS_DATABASE_URL": db.url,
        "COINS_DATABASE_POOL_MAX_SIZE": "4",
        "COINS_JWT_SECRET": db.settings().auth.jwt_secret,
    }
    command = [sys.executable, "-m", "uvicorn", "app.main:create_app", "--factory"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "info"]
    with log.open("ab") as output:
        process = subprocess.Popen(command, env=env, stdout=output, stderr=output)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


async def stop_gracefully(process: subprocess.Popen[bytes], log: Path) -> None:
    """SIGTERM; the lifespan's shutdown (settle, close the pool) must complete. uvicorn
    re-raises the signal once it has shut down, so the status is -SIGTERM or 0."""
    process.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(process.wait, STOP_TIMEOUT_S) in (0, -signal.SIGTERM)
    output = await asyncio.to_thread(log.read_text)
    assert "Application shutdown complete." in output, output[-3000:]
    assert "Traceback" not in output, output[-3000:]


async def wait_until_up(port: int, process: subprocess.Popen[bytes]) -> None:
    async with httpx.AsyncClient() as client, asyncio.timeout(START_TIMEOUT_S):
        while True:
            assert process.poll() is None, "the app exited while starting"
            with contextlib.suppress(httpx.TransportError):
                if (await client.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200:
                    return
            await asyncio.sleep(0.1)


class Gifting:
    """Viewers sending roses to one stream over HTTP, each send with its own key."""

    def __init__(self, db: Database, stream_id: int, gift_id: int, viewers: list[Any]) -> None:
        self.variables = {
            "stream": encode_id("LiveStream", stream_id),
            "gift": encode_id("Gift", gift_id),
        }
        auth = db.settings().auth
        self.tokens = {v.id: issue_token(v.id, auth) for v in viewers}
        self.answers: list[tuple[int, str, Any]] = []

    async def send(self, client: httpx.AsyncClient, viewer_id: int, key: str = "") -> Any:
        key = key or f"proc-{next(_keys)}"
        try:
            response = await client.post(
                "/graphql",
                json={"query": SEND, "variables": {**self.variables, "key": key}},
                headers={"Authorization": f"Bearer {self.tokens[viewer_id]}"},
            )
            body: Any = response.json()
        except httpx.TransportError as error:  # the process died under this request
            body = error
        self.answers.append((viewer_id, key, body))
        return body

    def ok(self, body: Any) -> bool:
        return (
            isinstance(body, dict)
            and body.get("data", {}).get("sendGift", {}).get("errors") == []
            and "errors" not in body
        )


async def test_sigterm_after_killed_backends_stops_promptly(db: Database, tmp_path: Path) -> None:
    host = await make_user()
    stream = await make_stream(host)
    rose = await make_gift("rose", coins=1)
    viewers = [await make_user(coins=1_000) for _ in range(6)]
    gifting = Gifting(db, stream.id, rose.id, viewers)
    port, log = free_port(), tmp_path / "app.log"
    admin = await asyncpg.connect(db.url)
    try:
        with serving(db, port, log) as process:
            await wait_until_up(port, process)
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
                for _ in range(4):
                    burst = asyncio.gather(
                        *(gifting.send(client, v.id) for v in viewers for _ in range(4))
                    )
                    await asyncio.sleep(0.05)
                    await kill_backends(admin)
                    await burst
                # The next requests succeed.
                after = [await gifting.send(client, v.id) for v in viewers]
                assert all(gifting.ok(body) for body in after), after
            assert all("Unexpected error." not in str(a) for a in gifting.answers)
            await stop_gracefully(process, log)
    finally:
        await admin.close()
    # A clean stop settled everything it had queued; each answered gift moved value once.
    assert await GiftCredit.count() == 0
    answered = [k for _, k, body in gifting.answers if gifting.ok(body)]
    assert await GiftEvent.count() == await Operation.count().where(Operation.kind == "SEND_GIFT")
    assert await Operation.count().where(Operation.idempotency_key.is_in(answered)) == len(answered)
    spent = sum([1_000 - await coins_of(v.id) for v in viewers])
    assert spent == await GiftEvent.count()


async def test_sigkill_mid_burst_leaves_no_partial_operation(db: Database, tmp_path: Path) -> None:
    """Crash safety: SIGKILL while gifts are in flight, restart, every operation whole."""
    host = await make_user()
    stream = await make_stream(host)
    rose = await make_gift("rose", coins=1)
    viewers = [await make_user(coins=1_000) for _ in range(8)]
    gifting = Gifting(db, stream.id, rose.id, viewers)
    port, log = free_port(), tmp_path / "app.log"
    with serving(db, port, log) as process:
        await wait_until_up(port, process)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:

            async def keep_sending(viewer_id: int) -> None:
                while process.poll() is None:
                    await gifting.send(client, viewer_id)

            senders = asyncio.gather(*(keep_sending(v.id) for v in viewers))
            while sum(gifting.ok(b) for _, _, b in gifting.answers) < 40:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
            process.send_signal(signal.SIGKILL)
            await asyncio.to_thread(process.wait)
            await senders
    lost = [(v, k) for v, k, body in gifting.answers if not gifting.ok(body)]
    assert lost, "the kill landed between requests; nothing was in flight"

    # Restart: the gifts whose answers were lost, sent again with their keys, happen once.
    with serving(db, port, log) as process:
        await wait_until_up(port, process)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            for viewer_id, key in lost:
                assert gifting.ok(await gifting.send(client, viewer_id, key))
        await stop_gracefully(process, log)

    await settle_all()
    keys = {k for _, k, _ in gifting.answers}
    assert await GiftEvent.count() == len(keys)
    assert await Operation.count().where(Operation.idempotency_key.is_in(list(keys))) == len(keys)
    assert sum([1_000 - await coins_of(v.id) for v in viewers]) == len(keys)
    report = await verify_all()
    assert report.ok, report.breaches

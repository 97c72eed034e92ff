"""The app served by uvicorn on this test's event loop, and real graphql-transport-ws clients.

Hundreds of websockets through the test client would each spin their own thread; a real
server and real sockets on one loop are what production looks like, and cheap.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest
import redis.asyncio as aioredis
import uvicorn
from litestar import Litestar
from litestar.testing import AsyncTestClient
from litestar.testing.websocket_test_session import WebSocketTestSession
from websockets.asyncio.client import ClientConnection, connect

from app.main import create_app
from app.settings import Settings

REDIS_URL = os.environ.get("COINS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
IN_CI = os.environ.get("CI", "").lower() == "true"

SUBSCRIBE = """subscription($stream: ID!) {
  giftSent(streamId: $stream) {
    quantity comboCount gift { slug } sender { handle } stream { coinsReceived }
  }
}"""
SEND = """mutation($stream: ID!, $gift: ID!, $quantity: Int!, $key: String!) {
  sendGift(input: {streamId: $stream, giftId: $gift, quantity: $quantity, idempotencyKey: $key}) {
    errors { code }
  }
}"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def channel_prefix() -> str:
    """A Redis channel prefix of this test's own."""
    return f"coins-test-{uuid.uuid4().hex}"


async def redis_or_skip() -> None:
    client = aioredis.from_url(REDIS_URL)
    try:
        await client.ping()
    except (OSError, aioredis.RedisError) as error:
        if IN_CI:
            pytest.fail(f"Redis at {REDIS_URL} is unreachable: {error}")
        pytest.skip(f"Redis unreachable: {error}")
    finally:
        await client.aclose()


async def wait_until(condition: Callable[[], Awaitable[bool]], what: str) -> None:
    """Poll a condition (a subscription being registered), not the clock."""
    for _ in range(1000):
        if await condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


@asynccontextmanager
async def served(settings: Settings) -> AsyncIterator[tuple[Litestar, str]]:
    """``(app, "host:port")`` while the app is served."""
    app = create_app(settings)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
                raise AssertionError("the server stopped while starting")
            await asyncio.sleep(0.01)
        yield app, f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)


@asynccontextmanager
async def socket_of(address: str, token: str) -> AsyncIterator[ClientConnection]:
    """A graphql-transport-ws connection, acknowledged."""
    async with connect(f"ws://{address}/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        await ws.send(
            json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}})
        )
        assert (await receive(ws))["type"] == "connection_ack"
        yield ws


async def subscribe(ws: ClientConnection, stream_id: str, operation: str = "1") -> None:
    message = {
        "id": operation,
        "type": "subscribe",
        "payload": {"query": SUBSCRIBE, "variables": {"stream": stream_id}},
    }
    await ws.send(json.dumps(message))


async def receive(ws: ClientConnection) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), 10))


async def next_event(ws: ClientConnection) -> dict[str, Any]:
    message = await receive(ws)
    assert message["type"] == "next", message
    assert "errors" not in message["payload"], message
    return message["payload"]["data"]["giftSent"]


def error_codes(message: dict[str, Any]) -> list[str]:
    """The codes of a subscription's errors, as a ``next`` or an ``error`` message has them."""
    errors = message["payload"]["errors"] if message["type"] == "next" else message["payload"]
    return [error["extensions"]["code"] for error in errors]


async def send_gift(address: str, token: str, variables: dict[str, Any]) -> list[str]:
    async with httpx.AsyncClient(base_url=f"http://{address}") as http:
        response = await http.post(
            "/graphql",
            json={"query": SEND, "variables": variables},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return [error["code"] for error in body["data"]["sendGift"]["errors"]]


class HungRedis:
    """A TCP server in front of Redis that accepts and never answers (a hung Redis, not a
    dead one) until ``resume``, after which it passes connections through to Redis."""

    def __init__(self) -> None:
        self.hung = True
        self._server: asyncio.Server | None = None
        self._held: list[asyncio.StreamWriter] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"redis://127.0.0.1:{port}/0"

    def resume(self) -> None:
        self.hung = False
        for writer in self._held:  # what it held dies, as after a restart
            writer.close()
        self._held.clear()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in self._held:
            writer.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.hung:
            self._held.append(writer)
            with contextlib.suppress(OSError):
                while await reader.read(65_536):
                    pass  # swallowed: no answer, ever
            return
        target = urlparse(REDIS_URL)
        upstream_reader, upstream_writer = await asyncio.open_connection(
            target.hostname, target.port or 6379
        )
        for source, sink in ((reader, upstream_writer), (upstream_reader, writer)):
            task = asyncio.create_task(_pipe(source, sink))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    try:
        while data := await source.read(65_536):
            sink.write(data)
            await sink.drain()
    except OSError:
        pass
    finally:
        sink.close()


async def open_subscription(
    client: AsyncTestClient, token: str, stream_id: str, query: str = SUBSCRIBE
) -> WebSocketTestSession:
    """A ``giftSent`` subscription through the test client (its websocket, its thread)."""
    ws = await client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"])
    ws.__enter__()
    ws.send_json({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}})
    assert ws.receive_json(timeout=10)["type"] == "connection_ack"
    ws.send_json(
        {
            "id": "1",
            "type": "subscribe",
            "payload": {"query": query, "variables": {"stream": stream_id}},
        }
    )
    return ws


def next_client_event(ws: WebSocketTestSession) -> dict[str, Any]:
    """The next ``giftSent`` event a test client's subscription hears."""
    message = ws.receive_json(timeout=10)
    assert message["type"] == "next", message
    assert "errors" not in message["payload"], message
    return message["payload"]["data"]["giftSent"]

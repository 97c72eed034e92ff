"""The live feed of gifts per stream: published after commit, heard by subscribers.

``InProcessFeed`` fans out within one process (subscribers may live on other event loops,
as the test client's websockets do); ``RedisFeed`` uses Redis pub/sub so that a gift sent
through one app process reaches subscribers of every process. Messages carry only the
gift event id; subscribers read the event from the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator
from typing import Protocol

import redis.asyncio as aioredis


class GiftFeed(Protocol):
    async def publish(self, stream_id: int, event_id: int) -> None: ...

    def subscribe(self, stream_id: int) -> AsyncIterator[int]: ...

    async def close(self) -> None: ...


class InProcessFeed:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queues: dict[int, set[tuple[asyncio.AbstractEventLoop, asyncio.Queue[int]]]] = {}

    def subscriber_count(self, stream_id: int) -> int:
        with self._lock:
            return len(self._queues.get(stream_id, ()))

    async def publish(self, stream_id: int, event_id: int) -> None:
        with self._lock:
            targets = list(self._queues.get(stream_id, ()))
        for loop, queue in targets:
            with contextlib.suppress(RuntimeError):  # that subscriber's loop has closed
                loop.call_soon_threadsafe(queue.put_nowait, event_id)

    async def subscribe(self, stream_id: int) -> AsyncIterator[int]:
        entry = (asyncio.get_running_loop(), asyncio.Queue[int]())
        with self._lock:
            self._queues.setdefault(stream_id, set()).add(entry)
        try:
            while True:
                yield await entry[1].get()
        finally:
            with self._lock:
                self._queues.get(stream_id, set()).discard(entry)

    async def close(self) -> None:
        return None


class RedisFeed:
    """One channel per stream: ``<prefix>:gifts:<stream id>``."""

    def __init__(self, url: str, prefix: str) -> None:
        self._url = url
        self._prefix = prefix

    def channel(self, stream_id: int) -> str:
        return f"{self._prefix}:gifts:{stream_id}"

    async def publish(self, stream_id: int, event_id: int) -> None:
        # A client per call: publishers may run on different event loops (tests, workers).
        client = aioredis.from_url(self._url)
        try:
            await client.publish(self.channel(stream_id), str(event_id))
        finally:
            await client.aclose()

    async def subscribe(self, stream_id: int) -> AsyncIterator[int]:
        client = aioredis.from_url(self._url)
        pubsub = client.pubsub()
        try:
            await pubsub.subscribe(self.channel(stream_id))
            async for message in pubsub.listen():
                if message.get("type") == "message":
                    yield int(message["data"])
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()
            await client.aclose()

    async def close(self) -> None:
        return None


def create_feed(redis_url: str | None, prefix: str) -> GiftFeed:
    return RedisFeed(redis_url, prefix) if redis_url else InProcessFeed()

"""The live feed of gifts per stream: published after commit, heard by subscribers.

One ``FeedHub`` per process fans each message out in memory to the local subscribers of
its stream, each through a bounded queue: a subscriber that does not keep up loses events
(counted in ``FeedHub.dropped``), it never slows the others or the publisher. A message
carries everything the feed shows of the gift (the publisher encodes it), and what the
subscribers derive from it is made once per message and event loop (``Delivery.shared``):
a thousand subscribers cost what one does.

``InProcessFeed`` hands a published message straight to the hub. ``RedisFeed`` lets
several app processes agree: publishing only queues the message in a bounded outbox that
a background task drains into Redis, each operation under a timeout, so a hung or dead
Redis costs feed events, never a gift's answer; one Redis subscription per process and
stream (the first local subscriber subscribes, the last one's leaving unsubscribes) feeds
the hub. Subscribers may live on other event loops than the feed (the test client's
websockets do): the hub is guarded by a lock and reaches them thread-safely.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import redis.asyncio as aioredis
import structlog
from redis.exceptions import RedisError

from app.core.clock import utcnow
from app.core.errors import DomainError, ErrorCode
from app.settings import FeedSettings

log = structlog.get_logger(__name__)
T = TypeVar("T")

# How long the Redis reader waits for a message before it looks for streams to (un)subscribe.
_POLL_S = 0.05
# The longest pause between two attempts to reach a Redis that failed.
_MAX_BACKOFF_S = 2.0


class Delivery:
    """One published message as the local subscribers of its stream receive it."""

    __slots__ = ("_lock", "_shared", "message")

    def __init__(self, message: bytes) -> None:
        self.message = message
        self._lock = threading.Lock()
        self._shared: dict[tuple[asyncio.AbstractEventLoop, str], Any] = {}

    def shared(self, name: str, make: Callable[[], T]) -> T:
        """``make()`` once per event loop for all subscribers: the decoded event, the loaders
        its fields read through (loaders belong to one loop, hence not once per process)."""
        key = (asyncio.get_running_loop(), name)
        with self._lock:
            if key not in self._shared:
                self._shared[key] = make()
            return self._shared[key]  # type: ignore[no-any-return]


class _Subscriber:
    __slots__ = ("loop", "queue", "stream_id", "user_id")

    def __init__(self, stream_id: int, user_id: int, size: int) -> None:
        self.stream_id = stream_id
        self.user_id = user_id
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue[Delivery] = asyncio.Queue(size)


class FeedHub:
    """The process's subscribers by stream, with the per-user cap and the drop counter."""

    def __init__(self, settings: FeedSettings, on_change: Callable[[], None]) -> None:
        self._settings = settings
        self._on_change = on_change
        self._lock = threading.Lock()
        self._streams: dict[int, set[_Subscriber]] = {}
        self._per_user: Counter[int] = Counter()
        # Events a slow subscriber lost (its queue was full); for metrics.
        self.dropped = 0
        self.delivered = 0

    def streams(self) -> set[int]:
        with self._lock:
            return set(self._streams)

    def subscriber_count(self, stream_id: int) -> int:
        with self._lock:
            return len(self._streams.get(stream_id, ()))

    def add(self, stream_id: int, user_id: int) -> _Subscriber:
        subscriber = _Subscriber(stream_id, user_id, self._settings.subscriber_queue_size)
        with self._lock:
            if self._per_user[user_id] >= self._settings.max_subscriptions_per_user:
                raise DomainError(
                    ErrorCode.TOO_MANY_SUBSCRIPTIONS,
                    f"At most {self._settings.max_subscriptions_per_user} live feeds at a time.",
                )
            self._per_user[user_id] += 1
            first = stream_id not in self._streams
            self._streams.setdefault(stream_id, set()).add(subscriber)
        if first:
            self._on_change()
        return subscriber

    def remove(self, subscriber: _Subscriber) -> None:
        with self._lock:
            self._per_user[subscriber.user_id] -= 1
            if self._per_user[subscriber.user_id] <= 0:
                del self._per_user[subscriber.user_id]
            local = self._streams.get(subscriber.stream_id, set())
            local.discard(subscriber)
            last = not local
            if last:
                self._streams.pop(subscriber.stream_id, None)
        if last:
            self._on_change()

    def deliver(self, stream_id: int, message: bytes) -> None:
        """Offer the message to every local subscriber of the stream; never waits."""
        with self._lock:
            targets = list(self._streams.get(stream_id, ()))
        if not targets:
            return
        delivery = Delivery(message)
        here = _running_loop()
        for subscriber in targets:
            if subscriber.loop is here:
                self._offer(subscriber, delivery)
            else:
                with contextlib.suppress(RuntimeError):  # that subscriber's loop has closed
                    subscriber.loop.call_soon_threadsafe(self._offer, subscriber, delivery)

    def _offer(self, subscriber: _Subscriber, delivery: Delivery) -> None:
        try:
            subscriber.queue.put_nowait(delivery)
        except asyncio.QueueFull:
            with self._lock:
                self.dropped += 1
            return
        with self._lock:
            self.delivered += 1


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _expired() -> DomainError:
    return DomainError(ErrorCode.UNAUTHENTICATED, "Your sign-in expired: sign in again.")


class GiftFeed:
    """A feed: ``publish`` never waits; ``subscribe`` yields the stream's deliveries."""

    def __init__(self, settings: FeedSettings) -> None:
        self.hub = FeedHub(settings, self._streams_changed)

    def subscriber_count(self, stream_id: int) -> int:
        return self.hub.subscriber_count(stream_id)

    def subscriber_total(self) -> int:
        """Subscribers of every stream in this process (for metrics)."""
        return sum(map(self.hub.subscriber_count, self.hub.streams()))

    def dropped_events(self) -> int:
        """Events lost since start by subscribers too slow, or by a Redis outbox that was
        full or failing (for metrics)."""
        return self.hub.dropped + getattr(self, "publish_dropped", 0)

    def publish(self, stream_id: int, message: bytes) -> None:
        raise NotImplementedError

    async def subscribe(
        self, stream_id: int, user_id: int, *, expires_at: int | None = None
    ) -> AsyncIterator[Delivery]:
        """The stream's deliveries until the caller leaves, or until ``expires_at`` (a UNIX
        time: the subscriber's token expiry) passes, which raises UNAUTHENTICATED. Close it
        (``contextlib.aclosing``) to leave at once rather than when it is collected."""
        subscriber = self.hub.add(stream_id, user_id)
        try:
            while True:
                if expires_at is None:
                    delivery = await subscriber.queue.get()
                else:
                    remaining_s = expires_at - utcnow().timestamp()
                    if remaining_s <= 0:
                        raise _expired()
                    try:
                        async with asyncio.timeout(remaining_s):  # a timer, not a task
                            delivery = await subscriber.queue.get()
                    except TimeoutError:
                        raise _expired() from None
                    if expires_at <= utcnow().timestamp():
                        raise _expired()
                yield delivery
        finally:
            self.hub.remove(subscriber)

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def _streams_changed(self) -> None:
        return None


class InProcessFeed(GiftFeed):
    def publish(self, stream_id: int, message: bytes) -> None:
        self.hub.deliver(stream_id, message)


class RedisFeed(GiftFeed):
    """One channel per stream: ``<prefix>:gifts:<stream id>``."""

    def __init__(self, url: str, prefix: str, settings: FeedSettings) -> None:
        super().__init__(settings)
        self._url = url
        self._prefix = prefix
        self._settings = settings
        self._timeout_s = settings.redis_timeout_ms / 1000
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._outbox: deque[tuple[int, bytes]] = deque()
        self._outbox_lock = threading.Lock()
        self._wake_publisher: asyncio.Event | None = None
        self._wake_reader: asyncio.Event | None = None
        # Counters for metrics: published, and lost to a full outbox or a failing Redis.
        self.published = 0
        self.publish_dropped = 0
        self.publish_failed = 0
        self._failing = False

    def channel(self, stream_id: int) -> str:
        return f"{self._prefix}:gifts:{stream_id}"

    def _client(self) -> aioredis.Redis:
        return aioredis.from_url(
            self._url,
            socket_timeout=self._timeout_s,
            socket_connect_timeout=self._timeout_s,
        )

    async def start(self) -> None:
        """Start the publisher and the reader on this event loop (the app's)."""
        self._start_here()

    def _start_here(self) -> None:
        if self._loop is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._wake_publisher = asyncio.Event()
        self._wake_reader = asyncio.Event()
        self._tasks = [
            self._loop.create_task(self._publish_outbox(), name="feed-publisher"),
            self._loop.create_task(self._read(), name="feed-reader"),
        ]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        self._loop = None

    def publish(self, stream_id: int, message: bytes) -> None:
        """Queue the message for Redis; past ``outbox_size`` waiting it is dropped."""
        if self._loop is None and _running_loop() is not None:
            self._start_here()  # a feed used without an app (scripts, tests)
        with self._outbox_lock:
            if len(self._outbox) >= self._settings.outbox_size:
                self.publish_dropped += 1
                return  # Redis is failing: the publisher says so, once, not per gift
            self._outbox.append((stream_id, message))
        self._wake(self._wake_publisher)

    async def subscribe(
        self, stream_id: int, user_id: int, *, expires_at: int | None = None
    ) -> AsyncIterator[Delivery]:
        if self._loop is None:
            self._start_here()  # a feed used without an app (scripts, tests)
        async for delivery in super().subscribe(stream_id, user_id, expires_at=expires_at):
            yield delivery

    def _streams_changed(self) -> None:
        self._wake(self._wake_reader)

    def _wake(self, event: asyncio.Event | None) -> None:
        loop = self._loop
        if event is None or loop is None:
            return
        if _running_loop() is loop:
            event.set()
        else:
            with contextlib.suppress(RuntimeError):  # the feed's loop has closed
                loop.call_soon_threadsafe(event.set)

    async def _publish_outbox(self) -> None:
        assert self._wake_publisher is not None
        client = self._client()
        try:
            while True:
                await self._wake_publisher.wait()
                self._wake_publisher.clear()
                while True:
                    with self._outbox_lock:
                        if not self._outbox:
                            break
                        stream_id, message = self._outbox.popleft()
                    try:
                        await asyncio.wait_for(
                            client.publish(self.channel(stream_id), message), self._timeout_s
                        )
                    except (RedisError, OSError, TimeoutError) as error:
                        client = await self._publish_failed(client, error)
                        continue
                    self.published += 1
                    if self._failing:
                        self._failing = False
                        log.info("feed.redis_back")
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.aclose(), self._timeout_s)

    async def _publish_failed(self, client: aioredis.Redis, error: Exception) -> aioredis.Redis:
        """Count the lost event, drop those queued behind it (stale by the time Redis would
        take them: subscribers want what happens now), and start a fresh connection."""
        with self._outbox_lock:
            stale = len(self._outbox)
            self._outbox.clear()
        self.publish_failed += 1
        self.publish_dropped += stale
        if not self._failing:  # once per outage, not once per gift
            self._failing = True
            log.warning("feed.publish_failed", error=type(error).__name__)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.aclose(), self._timeout_s)
        return self._client()

    async def _read(self) -> None:
        """The process's one Redis subscription: follow the hub's streams, hand it messages."""
        backoff_s = _POLL_S
        while True:
            client = self._client()
            pubsub = client.pubsub()
            try:
                await self._follow(pubsub)
            except (RedisError, OSError, TimeoutError) as error:
                log.warning("feed.subscription_failed", error=type(error).__name__)
                await asyncio.sleep(backoff_s)
                backoff_s = min(backoff_s * 2, _MAX_BACKOFF_S)
            finally:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(pubsub.aclose(), self._timeout_s)
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(client.aclose(), self._timeout_s)

    async def _follow(self, pubsub: Any) -> None:
        assert self._wake_reader is not None
        subscribed: set[int] = set()
        while True:
            wanted = self.hub.streams()
            if wanted - subscribed:
                channels = [self.channel(s) for s in wanted - subscribed]
                await asyncio.wait_for(pubsub.subscribe(*channels), self._timeout_s)
                subscribed |= wanted - subscribed
            if subscribed - wanted:
                channels = [self.channel(s) for s in subscribed - wanted]
                await asyncio.wait_for(pubsub.unsubscribe(*channels), self._timeout_s)
                subscribed &= wanted
            if not subscribed:
                self._wake_reader.clear()
                if not self.hub.streams():
                    await self._wake_reader.wait()
                continue
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=_POLL_S)
            if message is not None and message.get("type") == "message":
                channel = message["channel"].decode()
                stream_id = int(channel.rpartition(":")[2])
                self.hub.deliver(stream_id, message["data"])


def create_feed(redis_url: str | None, prefix: str, settings: FeedSettings) -> GiftFeed:
    return RedisFeed(redis_url, prefix, settings) if redis_url else InProcessFeed(settings)

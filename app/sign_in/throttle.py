"""Sign-in limits: per client IP, per handle, and a growing wait after repeated failures.

Guarantees, for every ``admit``:

- Each client IP (an IPv6 client by its /64, which one subscriber holds whole) may make
  ``ip_limits`` attempts, counted whatever the handle: sign-ins, sign-ups and the admin's.
- Each handle may be tried ``handle_limits`` times. The attempt is counted (an atomic
  moving-window hit, in memory or by a Lua script in Redis) before its password is read,
  so a burst of concurrent guesses checks no more passwords than the limit.
- After ``free_failures`` failures in a row a handle waits ``backoff_base_s``, doubling
  with each further failure, never more than ``backoff_max_s``: a handle cannot be locked
  for longer than that after the guessing stops.
- An IP that signed in to a handle before (within ``known_ip_days``) keeps its own counts
  for that handle: a stranger's guessing slows the stranger, not the owner at home.

Refusals are ``RATE_LIMITED`` with the wait in the message. Keys hold digests, never a
handle or an address. When Redis fails, the counts fall back to this process's memory
(a warning, at most one per ``STORAGE_RETRY_S``): limits stay on, per process.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import redis.asyncio as aioredis
import structlog
from limits import RateLimitItem
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError

from app.core.errors import DomainError, ErrorCode
from app.settings import SignInSettings

T = TypeVar("T")
log = structlog.get_logger(__name__)

STORAGE_RETRY_S = 30.0
REDIS_TIMEOUT_S = 0.5


@dataclass(frozen=True, slots=True)
class Attempt:
    """An admitted attempt; ``account`` names the counts its failure or success moves."""

    kind: str
    handle: str | None
    network: str | None
    account: str | None


def client_network(ip: str | None) -> str | None:
    """What a limit per IP counts: the address, or an IPv6 client's /64."""
    if not ip:
        return None
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip[:64]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def _digest(*parts: str) -> str:
    return hashlib.blake2b("\0".join(parts).encode(), digest_size=16).hexdigest()


def _wait_text(seconds: float) -> str:
    whole = max(1, math.ceil(seconds))
    if whole < 120:
        return f"{whole} second{'s' if whole > 1 else ''}"
    return f"{math.ceil(whole / 60)} minutes"


def _refused(why: str, seconds: float) -> DomainError:
    return DomainError(ErrorCode.RATE_LIMITED, f"{why} Try again in {_wait_text(seconds)}.")


class SignInThrottle:
    def __init__(
        self,
        settings: SignInSettings,
        storage: Storage | None = None,
        redis_pool: aioredis.ConnectionPool | None = None,
    ) -> None:
        self.settings = settings
        self._storage = storage or MemoryStorage()
        self._redis_pool = redis_pool
        self._fallback = MemoryStorage()
        self._storage_down_until = 0.0

    async def _use(self, work: Callable[[Storage], Awaitable[T]]) -> T:
        """Run ``work`` on the shared storage, or on this process's memory while it fails."""
        if time.monotonic() >= self._storage_down_until:
            try:
                return await work(self._storage)
            except StorageError as error:
                self._storage_down_until = time.monotonic() + STORAGE_RETRY_S
                log.warning(
                    "sign_in.limits_storage_failed",
                    error=type(error.storage_error).__name__,
                    fallback="memory",
                    retry_in_s=STORAGE_RETRY_S,
                )
        return await work(self._fallback)

    async def _hit(self, items: Sequence[RateLimitItem], scope: str, key: str, why: str) -> None:
        for item in items:

            async def hit(storage: Storage, item: RateLimitItem = item) -> float | None:
                limiter = MovingWindowRateLimiter(storage)
                if await limiter.hit(item, scope, key):
                    return None
                stats = await limiter.get_window_stats(item, scope, key)
                return stats.reset_time - time.time()

            wait = await self._use(hit)
            if wait is not None:
                raise _refused(why, wait)

    async def _waiting(self, account: str) -> float:
        key = f"wait/{account}"

        async def remaining(storage: Storage) -> float:
            if await storage.get(key) <= 0:
                return 0.0
            return max(0.0, await storage.get_expiry(key) - time.time())

        return await self._use(remaining)

    async def admit(
        self, kind: str, *, handle: str | None = None, ip: str | None = None
    ) -> Attempt:
        """Count an attempt to sign in (``handle``) or sign up (no handle) from ``ip``, or
        refuse it with RATE_LIMITED before any password is read."""
        network = client_network(ip)
        if network is not None:
            await self._hit(
                self.settings.ip_limits,
                "sign-in-ip",
                _digest(network),
                "Too many sign-in attempts from your network.",
            )
        if handle is None:
            return Attempt(kind, None, network, None)
        account = _digest(kind, handle)
        if network is not None:
            own = _digest(kind, handle, network)
            known = await self._use(lambda storage: storage.get(f"known/{own}"))
            if known > 0:
                account = own
        wait = await self._waiting(account)
        if wait > 0:
            raise _refused("Too many failed sign-ins for this handle.", wait)
        await self._hit(
            self.settings.handle_limits,
            "sign-in-handle",
            account,
            "Too many sign-in attempts for this handle.",
        )
        return Attempt(kind, handle, network, account)

    async def failed(self, attempt: Attempt) -> None:
        """A wrong password: past ``free_failures`` in a row, the handle waits, longer each time."""
        if attempt.account is None:
            return
        settings = self.settings
        account = attempt.account

        async def count(storage: Storage) -> None:
            failures = await storage.incr(f"failures/{account}", settings.failure_memory_s)
            if failures < settings.free_failures:
                return
            doublings = min(failures - settings.free_failures, 32)
            wait_s = min(settings.backoff_base_s * 2**doublings, settings.backoff_max_s)
            await storage.clear(f"wait/{account}")
            await storage.incr(f"wait/{account}", wait_s)

        await self._use(count)

    async def succeeded(self, attempt: Attempt) -> None:
        """The right password: the handle's failures are forgiven and its IP is known."""
        if attempt.account is None or attempt.handle is None:
            return
        account = attempt.account
        known_s = self.settings.known_ip_days * 86_400
        own = _digest(attempt.kind, attempt.handle, attempt.network) if attempt.network else None

        async def forgive(storage: Storage) -> None:
            await storage.clear(f"failures/{account}")
            await storage.clear(f"wait/{account}")
            if own is not None and known_s > 0:
                await storage.incr(f"known/{own}", known_s)

        await self._use(forgive)

    async def close(self) -> None:
        if self._redis_pool is not None:
            await self._redis_pool.disconnect()


def create_throttle(settings: SignInSettings, redis_url: str | None = None) -> SignInThrottle:
    """Counts in Redis when the app has one (so every process shares them), else in memory."""
    if not redis_url:
        return SignInThrottle(settings)
    pool = aioredis.ConnectionPool.from_url(
        redis_url, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S
    )
    scheme = "async+redis+" if redis_url.startswith("unix://") else "async+"
    storage = RedisStorage(
        scheme + redis_url,
        wrap_exceptions=True,
        implementation="redispy",
        key_prefix=settings.key_prefix,
        connection_pool=pool,
    )
    return SignInThrottle(settings, storage, pool)

"""Password hashing with argon2id (argon2-cffi's tuned defaults), off the event loop.

One argon2 hash is tens of milliseconds of CPU and 64 MiB: run on the event loop, sixteen
clients signing in raised every other request's latency from milliseconds to a second.
Hashes run on a few threads of their own (argon2-cffi releases the GIL), at most
``threads`` at once; up to ``queue`` more wait their turn, and beyond that a sign-in is
refused with RATE_LIMITED at once, so a flood of sign-ins neither blocks the loop nor
queues without end. Users' and staff's passwords share the threads.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from app.core.errors import DomainError, ErrorCode

T = TypeVar("T")

_hasher = PasswordHasher()
# Verified when the handle is unknown, so a miss costs as much time as a wrong password;
# made by the hasher in use (tests swap in a cheap one), once.
_dummy: tuple[PasswordHasher, str] | None = None


def _dummy_hash() -> str:
    global _dummy
    if _dummy is None or _dummy[0] is not _hasher:
        _dummy = (_hasher, _hasher.hash("not-a-real-password-just-for-timing"))
    return _dummy[1]


@dataclass(slots=True)
class _Gate:
    """One event loop's share of the threads: a semaphore cannot be shared between loops."""

    slots: asyncio.Semaphore
    waiting: int = field(default=0)


class PasswordHashing:
    """At most ``threads`` hashes at once, at most ``queue`` more waiting."""

    def __init__(self, threads: int, queue: int) -> None:
        self.threads = threads
        self.queue = queue
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="argon2")
        self._gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Gate] = (
            weakref.WeakKeyDictionary()
        )

    def _gate(self) -> _Gate:
        loop = asyncio.get_running_loop()
        gate = self._gates.get(loop)
        if gate is None:
            gate = self._gates[loop] = _Gate(asyncio.Semaphore(self.threads))
        return gate

    async def run(self, work: Callable[[], T]) -> T:
        gate = self._gate()
        if gate.slots.locked() and gate.waiting >= self.queue:
            raise DomainError(
                ErrorCode.RATE_LIMITED,
                "Too many people are signing in right now. Try again in a few seconds.",
            )
        gate.waiting += 1
        try:
            await gate.slots.acquire()
        finally:
            gate.waiting -= 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, work)
        finally:
            gate.slots.release()

    def close(self) -> None:
        self._executor.shutdown(wait=False)


_hashing = PasswordHashing(threads=2, queue=64)


def configure_hashing(threads: int, queue: int) -> None:
    """Size the hashing threads and queue (``SignInSettings``); the app does it at start."""
    global _hashing
    if (_hashing.threads, _hashing.queue) != (threads, queue):
        old, _hashing = _hashing, PasswordHashing(threads, queue)
        old.close()


async def hash_password(password: str) -> str:
    return await _hashing.run(lambda: _hasher.hash(password))


def _verify(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _dummy_hash(), password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


async def verify_password(password_hash: str | None, password: str) -> bool:
    return await _hashing.run(lambda: _verify(password_hash, password))

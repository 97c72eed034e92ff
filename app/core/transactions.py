"""One business operation, one transaction, retried on transient conflicts.

SQLite transactions are ``BEGIN IMMEDIATE`` so writers queue for the lock instead of failing
half-way; PostgreSQL serialization failures, deadlocks and SQLite's ``database is locked``
are retried a bounded number of times with jittered backoff. A retry re-runs the whole
unit of work, so ``work`` must read everything it decides on inside the transaction.

``on_commit`` queues a callback for after the outermost transaction commits (Saleor's and
Django's pattern): the live feed and the fraud rules hear of a gift only once it is
durable, never of one rolled back, and an attempt that is retried forgets its callbacks.
A failing callback is logged; it never fails an operation that has already committed.
"""

from __future__ import annotations

import asyncio
import random
import weakref
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import TypeVar

import structlog
from piccolo.engine.sqlite import TransactionType

from app.core.database import current_engine, is_sqlite, is_transient, transaction_attempts

T = TypeVar("T")
log = structlog.get_logger(__name__)

# SQLite has one writer at a time. Queueing this process's writers on an asyncio lock hands
# the database over at once, where SQLite's busy handler would sleep and poll (tens to
# hundreds of ms under load). Other processes still meet the busy timeout. One lock per
# event loop and database file: a lock cannot be shared between loops.
_writers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)


def _sqlite_writer(path: str) -> asyncio.Lock:
    locks = _writers.setdefault(asyncio.get_running_loop(), {})
    return locks.setdefault(path, asyncio.Lock())


AfterCommit = Callable[[], Awaitable[None]]
# The callbacks of the transaction this task has open; None outside a transaction.
_after_commit: ContextVar[list[AfterCommit] | None] = ContextVar("after_commit", default=None)


def on_commit(callback: AfterCommit) -> None:
    """Run ``callback`` once the current transaction commits; never if it rolls back."""
    pending = _after_commit.get()
    if pending is None:
        raise RuntimeError("on_commit needs an open transaction (in_transaction)")
    pending.append(callback)


async def run_callbacks(callbacks: list[AfterCommit]) -> None:
    """Run each callback, logging (never raising) a failure: the work they follow is done."""
    for callback in callbacks:
        try:
            await callback()
        except Exception:  # the operation is committed: a lost side effect is not lost money
            target = getattr(callback, "func", callback)  # functools.partial of a handler
            log.exception("after_commit.failed", callback=getattr(target, "__qualname__", "?"))


class RetryTransaction(Exception):
    """Raised inside a unit of work to start it again (e.g. lost a race on a unique key)."""


class TransactionConflict(RuntimeError):
    """Still conflicting after every retry: an overloaded database, not a user error."""


async def in_transaction(work: Callable[[], Awaitable[T]]) -> T:
    """Run ``work`` in one transaction; nested calls join the transaction already open."""
    engine = current_engine()
    if engine.current_transaction.get() is not None:
        return await work()
    attempts = transaction_attempts()
    for attempt in range(1, attempts + 1):
        callbacks: list[AfterCommit] = []
        token = _after_commit.set(callbacks)
        try:
            if is_sqlite(engine):
                async with (
                    _sqlite_writer(engine.path),
                    engine.transaction(transaction_type=TransactionType.immediate),
                ):
                    result = await work()
            else:
                async with engine.transaction():
                    result = await work()
        except Exception as error:
            if not (isinstance(error, RetryTransaction) or is_transient(error)):
                raise
            if attempt == attempts:
                raise TransactionConflict(f"gave up after {attempts} attempts") from error
            log.info("transaction.retry", attempt=attempt, reason=type(error).__name__)
            await asyncio.sleep(min(0.2, 0.002 * 2**attempt) * (0.5 + random.random()))  # noqa: S311
            continue
        finally:
            _after_commit.reset(token)
        await run_callbacks(callbacks)
        return result
    raise AssertionError("unreachable")

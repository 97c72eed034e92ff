"""One business operation, one transaction, retried on transient conflicts.

SQLite transactions are ``BEGIN IMMEDIATE`` so writers queue for the lock instead of failing
half-way; PostgreSQL serialization failures, deadlocks and SQLite's ``database is locked``
are retried a bounded number of times with jittered backoff. A retry re-runs the whole
unit of work, so ``work`` must read everything it decides on inside the transaction.

``on_commit`` queues a callback for after the outermost transaction commits (Saleor's and
Django's pattern): the live feed and the fraud rules hear of a gift only once it is
durable, never of one rolled back, and an attempt that is retried forgets its callbacks.
A failing callback is logged; it never fails an operation that has already committed.

A lost connection (a killed backend, a restart, a failover) is retried like a conflict
when it died before COMMIT: the server rolled the transaction back. When it died while
COMMIT was in flight the outcome is unknown, and is never guessed: a unit of work that
claimed an idempotency key (``resolve_by_key``, called by ``ledger.run_operation``) runs
again with that key, which finds the committed result or does the work once; any other
answers ``OutcomeUnknown`` (SERVICE_UNAVAILABLE), for the client to check and retry.
"""

from __future__ import annotations

import asyncio
import random
import weakref
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import TypeVar

import structlog
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import TransactionType

from app.core.database import (
    STATEMENT_ATTEMPTS,
    CommitOutcomeUnknown,
    DatabaseUnavailable,
    OutcomeUnknown,
    PooledTransaction,
    current_engine,
    is_connection_lost,
    is_sqlite,
    is_transient,
    pause_before_retry,
    transaction_attempts,
)
from app.core.metrics import TRANSACTION_CONFLICTS, TRANSACTION_RETRIES

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
# The idempotency keys the open transaction's work claimed; None outside a transaction.
_keys: ContextVar[list[str] | None] = ContextVar("idempotency_keys", default=None)


def resolve_by_key(key: str) -> None:
    """Declare that the open transaction's work is keyed by ``key``: run again after a
    COMMIT whose answer was lost, it finds its committed result instead of acting twice.
    (Only for work that checks the key before it writes anything.)"""
    keys = _keys.get()
    if keys is not None:
        keys.append(key)


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


class _Snapshot(PooledTransaction):
    """A read-only REPEATABLE READ transaction: every statement sees one snapshot."""

    async def begin(self) -> None:
        self.transaction = self.connection.transaction(isolation="repeatable_read", readonly=True)
        await self.transaction.start()


async def in_snapshot(work: Callable[[], Awaitable[T]]) -> T:
    """Run reads that must agree with each other (a balance and what is still queued for it)
    against one snapshot of the database; inside an open transaction, in that one."""
    engine = current_engine()
    if engine.current_transaction.get() is not None:
        return await work()
    if isinstance(engine, PostgresEngine):
        # Reads only: a lost connection costs nothing but another attempt.
        for attempt in range(1, STATEMENT_ATTEMPTS + 1):
            try:
                async with _Snapshot(engine):
                    result = await work()
                return result
            except CommitOutcomeUnknown:
                return result  # it only read: what it read stands, whatever became of COMMIT
            except Exception as error:
                if not is_connection_lost(error):
                    raise
                if attempt == STATEMENT_ATTEMPTS:
                    raise DatabaseUnavailable() from error
                log.info("snapshot.retry", attempt=attempt, reason=type(error).__name__)
                await pause_before_retry(attempt)
    async with engine.transaction():  # SQLite: a deferred transaction reads one snapshot
        return await work()


class RetryTransaction(Exception):
    """Raised inside a unit of work to start it again (e.g. lost a race on a unique key)."""


class TransactionConflict(DatabaseUnavailable):
    """Still conflicting after every retry: an overloaded database, not a user error, so the
    client gets SERVICE_UNAVAILABLE and nothing was written; the same request (with the same
    idempotency key) may be sent again."""

    def __init__(self, attempts: int) -> None:
        super().__init__(
            f"The service is busy with other changes to the same data and gave up after "
            f"{attempts} attempts; nothing was saved. Try again, with the same idempotency "
            "key where the request has one."
        )


async def in_transaction(work: Callable[[], Awaitable[T]]) -> T:
    """Run ``work`` in one transaction; nested calls join the transaction already open."""
    engine = current_engine()
    if engine.current_transaction.get() is not None:
        return await work()
    attempts = transaction_attempts()
    for attempt in range(1, attempts + 1):
        callbacks: list[AfterCommit] = []
        keys: list[str] = []
        token, keys_token = _after_commit.set(callbacks), _keys.set(keys)
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
        except CommitOutcomeUnknown as error:
            if not keys:
                log.warning("transaction.outcome_unknown", attempt=attempt)
                raise OutcomeUnknown() from error
            # Run again with the same key: it replays what committed, or does it once.
            log.info("transaction.resolve_by_key", attempt=attempt)
            if attempt == attempts:
                raise DatabaseUnavailable() from error
            await pause_before_retry(attempt)
            continue
        except Exception as error:
            lost = is_connection_lost(error)
            if not (lost or isinstance(error, RetryTransaction) or is_transient(error)):
                raise
            if attempt == attempts:
                if lost:
                    raise DatabaseUnavailable() from error
                TRANSACTION_CONFLICTS.inc()
                raise TransactionConflict(attempts) from error
            log.info("transaction.retry", attempt=attempt, reason=type(error).__name__)
            TRANSACTION_RETRIES.labels(type(error).__name__).inc()
            await asyncio.sleep(min(0.2, 0.002 * 2**attempt) * (0.5 + random.random()))  # noqa: S311
            continue
        finally:
            _after_commit.reset(token)
            _keys.reset(keys_token)
        await run_callbacks(callbacks)
        return result
    raise AssertionError("unreachable")

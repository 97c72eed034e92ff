"""One business operation, one transaction, retried on transient conflicts.

SQLite transactions are ``BEGIN IMMEDIATE`` so writers queue for the lock instead of failing
half-way; PostgreSQL serialization failures, deadlocks and SQLite's ``database is locked``
are retried a bounded number of times with jittered backoff. A retry re-runs the whole
unit of work, so ``work`` must read everything it decides on inside the transaction.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

import structlog
from piccolo.engine.sqlite import TransactionType

from app.core.database import current_engine, is_sqlite, is_transient

T = TypeVar("T")
log = structlog.get_logger(__name__)

DEFAULT_ATTEMPTS = 8


class RetryTransaction(Exception):
    """Raised inside a unit of work to start it again (e.g. lost a race on a unique key)."""


class TransactionConflict(RuntimeError):
    """Still conflicting after every retry: an overloaded database, not a user error."""


async def in_transaction(
    work: Callable[[], Awaitable[T]], *, attempts: int = DEFAULT_ATTEMPTS
) -> T:
    """Run ``work`` in one transaction; nested calls join the transaction already open."""
    engine = current_engine()
    if engine.current_transaction.get() is not None:
        return await work()
    for attempt in range(1, attempts + 1):
        try:
            if is_sqlite(engine):
                transaction = engine.transaction(transaction_type=TransactionType.immediate)
            else:
                transaction = engine.transaction()
            async with transaction:
                return await work()
        except Exception as error:
            if not (isinstance(error, RetryTransaction) or is_transient(error)):
                raise
            if attempt == attempts:
                raise TransactionConflict(f"gave up after {attempts} attempts") from error
            log.info("transaction.retry", attempt=attempt, reason=type(error).__name__)
            await asyncio.sleep(min(0.2, 0.002 * 2**attempt) * (0.5 + random.random()))  # noqa: S311
    raise AssertionError("unreachable")

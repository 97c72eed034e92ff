"""What the concurrency proofs share: real concurrent connections and a deadlock counter."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg
import pytest

from app.core import transactions
from app.core.database import current_engine, is_sqlite, open_pool
from app.core.errors import DomainError


async def concurrent_connections(size: int = 8) -> None:
    """A pool on PostgreSQL, so each task holds its own connection and transaction."""
    if not is_sqlite():
        await open_pool(current_engine(), size)


@contextmanager
def deadlocks_counted(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[BaseException]]:
    """The deadlocks PostgreSQL detected (and ``in_transaction`` retried) while inside."""
    seen: list[BaseException] = []
    original = transactions.is_transient

    def spy(error: BaseException) -> bool:
        if isinstance(error, asyncpg.DeadlockDetectedError):
            seen.append(error)
        return original(error)

    monkeypatch.setattr(transactions, "is_transient", spy)
    yield seen


def unexpected(outcomes: list[object]) -> list[object]:
    """What a client would see as "Unexpected error.": anything but a result or a refusal."""
    return [o for o in outcomes if isinstance(o, BaseException) and not isinstance(o, DomainError)]

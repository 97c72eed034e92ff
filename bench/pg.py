"""Connections to a PostgreSQL server shared with others: wait for a free slot, not fail.

The server's 100 connections are shared by every engineer's tests; a test run can hold
most of them for minutes. The benchmark waits (up to ``WAIT_S``) rather than failing.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg

T = TypeVar("T")
BUSY = (asyncpg.TooManyConnectionsError, asyncpg.CannotConnectNowError)
WAIT_S = 600.0


async def patiently(attempt: Callable[[], Awaitable[T]], *, wait_s: float = WAIT_S) -> T:
    """``attempt()`` again while the server has no free connection, for up to ``wait_s``."""
    deadline = time.monotonic() + wait_s
    told = False
    while True:
        try:
            return await attempt()
        except BUSY:
            if time.monotonic() > deadline:
                raise
            if not told:
                print(
                    "PostgreSQL has no free connection (shared server): waiting ...",
                    file=sys.stderr,
                    flush=True,
                )
                told = True
            await asyncio.sleep(0.5)


async def connect(dsn: str) -> asyncpg.Connection:
    return await patiently(lambda: asyncpg.connect(dsn))

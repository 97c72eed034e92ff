"""Connections to a PostgreSQL server shared with others: wait for a free slot, not fail.

The server's 100 connections are shared by every engineer's tests; a test run can take
most of them for a while. The benchmark waits (up to ``wait_s``) rather than failing.
"""

from __future__ import annotations

import asyncio
import time

import asyncpg

BUSY = (asyncpg.TooManyConnectionsError, asyncpg.CannotConnectNowError)


async def connect(dsn: str, *, wait_s: float = 120.0) -> asyncpg.Connection:
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return await asyncpg.connect(dsn)
        except BUSY:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)

"""Connections to a PostgreSQL server shared with others: wait for a free slot, not fail.

The server's 100 connections are shared by every engineer's tests; a test run can hold
most of them for minutes. The benchmark waits (up to ``wait_s``) rather than failing.
"""

from __future__ import annotations

import asyncio
import sys
import time

import asyncpg

BUSY = (asyncpg.TooManyConnectionsError, asyncpg.CannotConnectNowError)


async def connect(dsn: str, *, wait_s: float = 600.0) -> asyncpg.Connection:
    deadline = time.monotonic() + wait_s
    told = False
    while True:
        try:
            return await asyncpg.connect(dsn)
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

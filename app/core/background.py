"""Work a request starts and does not wait for: after-commit side effects, off the answer.

One task per app process runs the jobs in the order they were submitted, each failure
logged and contained. The queue is bounded: past ``limit`` waiting jobs a new one is
dropped and logged, so a stuck dependency costs side effects, never memory or answers.
What runs here must be safe to lose on a crash (the fraud rules are re-run by
``coins fraud scan``; a live-feed event is a notification, not money).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

import structlog

from app.core.transactions import run_callbacks

log = structlog.get_logger(__name__)

Job = Callable[[], Awaitable[None]]
T = TypeVar("T")


class Background:
    def __init__(self, name: str, *, limit: int = 10_000) -> None:
        self.name = name
        self._limit = limit
        self._queue: asyncio.Queue[Job] | None = None
        self._task: asyncio.Task[None] | None = None
        self._later: dict[int, tuple[asyncio.TimerHandle, Job]] = {}
        self._keys = itertools.count()
        self.dropped = 0
        self.submitted = 0
        self.finished = 0

    def start(self) -> None:
        self._queue = asyncio.Queue(self._limit)
        self._task = asyncio.get_running_loop().create_task(self._run(), name=self.name)

    def submit(self, job: Job) -> bool:
        """Queue ``job``; False when the queue is full and it was dropped."""
        return self._submit(job, None)

    def submit_later(self, job: Job, delay_s: float) -> bool:
        """Queue ``job`` in ``delay_s``; it counts as submitted (and waiting) from now on."""
        return self._submit(job, delay_s)

    def _submit(self, job: Job, delay_s: float | None) -> bool:
        # A delayed job holds its place from now on: were the queue to fill meanwhile, it
        # would be dropped when its delay ended, and a ``Batched`` would wait for it ever.
        if self._queue is None:
            raise RuntimeError(f"{self.name} is not running")
        if self._queue.qsize() + len(self._later) >= self._limit:
            self.dropped += 1
            log.warning("background.dropped", worker=self.name, waiting=self._limit)
            return False
        self.submitted += 1
        if delay_s is None:
            self._queue.put_nowait(job)
            return True
        key = next(self._keys)
        handle = asyncio.get_running_loop().call_later(delay_s, self._enqueue, key)
        self._later[key] = (handle, job)
        return True

    def _enqueue(self, key: int) -> None:
        assert self._queue is not None
        _, job = self._later.pop(key)
        self._queue.put_nowait(job)  # its place was kept: never full for it

    def _enqueue_all_now(self) -> None:
        """Delayed jobs join the queue at once (``join`` and ``stop`` wait for them)."""
        for key, (handle, _) in list(self._later.items()):
            handle.cancel()
            self._enqueue(key)

    @property
    def idle(self) -> bool:
        """Nothing waiting or running (readable from any thread, e.g. a test's)."""
        return self.finished == self.submitted

    async def join(self) -> None:
        """Wait until every job submitted so far has run (tests, shutdown); a delayed one
        is queued at once."""
        if self._queue is not None:
            self._enqueue_all_now()
            await self._queue.join()

    async def stop(self, timeout_s: float = 5.0) -> None:
        """Run what is waiting (for at most ``timeout_s``), then stop."""
        if self._task is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.join(), timeout_s)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def _run(self) -> None:
        assert self._queue is not None
        while True:
            job = await self._queue.get()
            try:
                await run_callbacks([job])
            finally:
                self.finished += 1
                self._queue.task_done()


class Batched(Generic[T]):
    """Items for one kind of job, run in batches on a ``Background``.

    What arrives while a batch waits or runs goes into the next one: under load one job
    takes hundreds, so work that costs a statement per batch keeps pace with the requests
    instead of queueing one job per request. ``gather_s`` holds a batch open that long
    after its first item: at a moderate rate, without it, every item is a batch of its own
    and costs the serving event loop a statement each. At most ``limit`` items wait; past
    that they are dropped and logged, like the queue's jobs.
    """

    def __init__(
        self,
        background: Background,
        run: Callable[[list[T]], Awaitable[None]],
        *,
        limit: int = 10_000,
        gather_s: float = 0.0,
    ) -> None:
        self._background = background
        self._run = run
        self._limit = limit
        self._gather_s = gather_s
        self._items: list[T] = []
        self._scheduled = False
        self.dropped = 0

    def add(self, item: T) -> None:
        if len(self._items) >= self._limit:
            self.dropped += 1
            log.warning("background.batch_full", worker=self._background.name)
            return
        self._items.append(item)
        if not self._scheduled:
            if self._gather_s > 0:
                self._scheduled = self._background.submit_later(self._drain, self._gather_s)
            else:
                self._scheduled = self._background.submit(self._drain)

    async def _drain(self) -> None:
        self._scheduled = False
        items, self._items = self._items, []
        if items:
            await self._run(items)

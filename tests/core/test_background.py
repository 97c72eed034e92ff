"""The app's after-response worker: jobs run in order off the answer, batches keep pace."""

from __future__ import annotations

import asyncio

from app.core.background import Background, Batched


async def test_items_that_arrive_while_a_batch_runs_form_the_next_batch() -> None:
    background = Background("test")
    background.start()
    batches: list[list[int]] = []
    release = asyncio.Event()

    async def run(items: list[int]) -> None:
        batches.append(items)
        if len(batches) == 1:
            await release.wait()  # a slow first batch: the rest pile up meanwhile

    batched = Batched(background, run)
    batched.add(1)
    await asyncio.sleep(0)  # the first batch starts with one item
    for n in range(2, 7):
        batched.add(n)
    release.set()
    await background.join()
    batched.add(7)
    await background.join()
    await background.stop()

    assert batches == [[1], [2, 3, 4, 5, 6], [7]]
    assert background.submitted == 3


async def test_a_full_batch_drops_and_counts_what_does_not_fit() -> None:
    background = Background("test")
    background.start()
    seen: list[int] = []

    async def run(items: list[int]) -> None:
        seen.extend(items)

    batched = Batched(background, run, limit=3)
    for n in range(5):
        batched.add(n)
    await background.join()
    await background.stop()

    assert seen == [0, 1, 2]
    assert batched.dropped == 2


async def test_a_failing_batch_is_logged_and_the_next_one_still_runs() -> None:
    background = Background("test")
    background.start()
    seen: list[list[str]] = []

    async def run(items: list[str]) -> None:
        seen.append(items)
        if items == ["bad"]:
            raise RuntimeError("rule bug")

    batched = Batched(background, run)
    batched.add("bad")
    await background.join()
    batched.add("good")
    await background.join()
    await background.stop()

    assert seen == [["bad"], ["good"]]


async def test_a_gathering_batch_takes_what_arrives_within_its_delay() -> None:
    background = Background("test")
    background.start()
    batches: list[list[int]] = []

    async def run(items: list[int]) -> None:
        batches.append(items)

    batched = Batched(background, run, gather_s=30)
    for n in range(3):
        batched.add(n)
        await asyncio.sleep(0)
    assert batches == []
    assert not background.idle  # waiting counts: a test's "settled" must not pass here
    await background.join()  # queues the gathering batch at once
    assert batches == [[0, 1, 2]]
    assert background.idle

    soon = Batched(background, run, gather_s=0.01)
    soon.add(3)
    soon.add(4)
    async with asyncio.timeout(10):  # the delay passes: the batch runs without a join
        while len(batches) < 2:  # noqa: ASYNC110 - the background task appends
            await asyncio.sleep(0.01)
    await background.stop()

    assert batches == [[0, 1, 2], [3, 4]]


async def test_a_delayed_batch_keeps_its_place_in_a_queue_that_fills_meanwhile() -> None:
    """Other jobs may not take the slot a gathering batch will need: if they did, the batch
    would be dropped when its delay ends, and the batcher would wait for it for ever."""
    background = Background("test", limit=2)
    background.start()
    release = asyncio.Event()
    seen: list[list[int]] = []

    async def blocker() -> None:
        await release.wait()

    async def run(items: list[int]) -> None:
        seen.append(items)

    batched = Batched(background, run, gather_s=30)
    batched.add(1)
    assert background.submit(blocker)  # it runs, and blocks the worker
    await asyncio.sleep(0)
    assert background.submit(blocker)  # it waits: the queue holds it and the batch's slot
    assert not background.submit(blocker)  # no room left: refused, the batch keeps its place
    release.set()
    await background.join()
    batched.add(2)
    await background.join()
    await background.stop()

    assert seen == [[1], [2]]

"""After-commit hooks and domain events: heard once a transaction commits, never before."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from app.core.errors import DomainError, ErrorCode
from app.core.events import bus
from app.core.transactions import RetryTransaction, in_transaction, on_commit
from app.gifts.service import GiftSent
from tests.factories import make_gift, make_stream, make_user, send

pytestmark = pytest.mark.usefixtures("db")


async def test_callbacks_run_in_order_after_the_commit_and_never_after_a_rollback() -> None:
    heard: list[str] = []

    def note(word: str):
        async def callback() -> None:
            heard.append(word)

        return callback

    async def committed() -> None:
        on_commit(note("first"))
        on_commit(note("second"))
        assert heard == []  # nothing before the commit

    async def rolled_back() -> None:
        on_commit(note("never"))
        raise DomainError(ErrorCode.INVALID_INPUT, "no")

    await in_transaction(committed)
    with pytest.raises(DomainError):
        await in_transaction(rolled_back)

    assert heard == ["first", "second"]


async def test_a_retried_attempt_forgets_its_callbacks() -> None:
    heard: list[int] = []
    attempts = 0

    async def work() -> None:
        nonlocal attempts
        attempts += 1
        attempt = attempts

        async def callback() -> None:
            heard.append(attempt)

        on_commit(callback)
        if attempt == 1:
            raise RetryTransaction("lost a race")

    await in_transaction(work)

    assert heard == [2]


async def test_a_failing_callback_is_logged_and_the_rest_still_run() -> None:
    heard: list[str] = []

    async def broken() -> None:
        raise RuntimeError("subscriber bug")

    async def fine() -> None:
        heard.append("fine")

    async def work() -> str:
        on_commit(broken)
        on_commit(fine)
        return "committed"

    with capture_logs() as logs:
        assert await in_transaction(work) == "committed"

    assert heard == ["fine"]
    [failure] = [entry for entry in logs if entry["event"] == "after_commit.failed"]
    assert failure["log_level"] == "error"
    assert failure["callback"].endswith("broken")


async def test_on_commit_needs_a_transaction() -> None:
    async def callback() -> None:
        return None

    with pytest.raises(RuntimeError, match="open transaction"):
        on_commit(callback)


async def test_a_gift_inside_a_callers_transaction_is_heard_only_if_that_commits() -> None:
    heard: list[int] = []

    async def listener(event: GiftSent) -> None:
        heard.append(event.event.id)

    unsubscribe = bus.subscribe(GiftSent, listener, name="test.listener")
    try:
        viewer, stream, rose = await make_user(coins=10), await make_stream(), await make_gift()

        async def gift_then_fail() -> None:
            await send(viewer, stream, rose)
            assert heard == []  # not yet: the caller's transaction is still open
            raise DomainError(ErrorCode.INVALID_INPUT, "the caller changed its mind")

        with pytest.raises(DomainError):
            await in_transaction(gift_then_fail)
        assert heard == []

        async def gift_and_commit() -> int:
            return (await send(viewer, stream, rose)).event.id

        event_id = await in_transaction(gift_and_commit)
        assert heard == [event_id]
    finally:
        unsubscribe()


async def test_a_replayed_gift_is_not_heard_again() -> None:
    heard: list[int] = []

    async def listener(event: GiftSent) -> None:
        heard.append(event.event.id)

    with_listener = bus.subscribe(GiftSent, listener, name="test.listener")
    try:
        viewer, stream, rose = await make_user(coins=10), await make_stream(), await make_gift()
        first = await send(viewer, stream, rose, key="once")
        again = await send(viewer, stream, rose, key="once")
    finally:
        with_listener()

    assert again.replayed
    assert again.event.id == first.event.id
    assert heard == [first.event.id]


def test_a_name_subscribed_twice_is_heard_once_and_restored_when_the_second_leaves() -> None:
    class Ping:
        pass

    async def a(event: Ping) -> None:
        return None

    async def b(event: Ping) -> None:
        return None

    leave_a = bus.subscribe(Ping, a, name="feed")
    leave_b = bus.subscribe(Ping, b, name="feed")
    assert bus.handlers(Ping) == [b]
    leave_b()
    assert bus.handlers(Ping) == [a]
    leave_a()
    assert bus.handlers(Ping) == []

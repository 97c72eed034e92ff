"""Domain events, heard after commit by the subscribers the app registers at start-up.

A service ``emit``s an event inside its transaction; each subscriber of that event type
runs once the transaction commits (``app.core.transactions.on_commit``), in the order they
subscribed, its failure logged and contained. This is how a lower package tells a higher
one without importing it: gifts emit ``GiftSent`` and the live feed and the fraud rules
hear it; they are wired together in one place, ``app.wiring``.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from app.core.transactions import on_commit, run_callbacks

E = TypeVar("E")
Handler = Callable[[Any], Awaitable[None]]


class EventBus:
    """Subscribers by event type and name. Subscribing a name again shadows the earlier
    handler until it unsubscribes, so a second app in one process (tests) or a test's own
    settings never make an event heard twice, and leaving restores what was there."""

    def __init__(self) -> None:
        self._handlers: dict[type, dict[str, list[Handler]]] = {}

    def subscribe(
        self, event_type: type[E], handler: Callable[[E], Awaitable[None]], *, name: str
    ) -> Callable[[], None]:
        """Subscribe ``handler``; returns the function that unsubscribes it (only it)."""
        stack = self._handlers.setdefault(event_type, {}).setdefault(name, [])
        stack.append(handler)

        def unsubscribe() -> None:
            if handler in stack:
                stack.remove(handler)

        return unsubscribe

    def handlers(self, event_type: type) -> list[Handler]:
        return [stack[-1] for stack in self._handlers.get(event_type, {}).values() if stack]


bus = EventBus()


def emit(event: object) -> None:
    """Tell the event's subscribers once the current transaction commits."""
    for handler in bus.handlers(type(event)):
        on_commit(functools.partial(handler, event))


async def emit_committed(event: object) -> None:
    """Tell the event's subscribers now: its operation committed in a statement of its own."""
    await run_callbacks([functools.partial(h, event) for h in bus.handlers(type(event))])

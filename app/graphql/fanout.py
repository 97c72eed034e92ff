"""One rendering of a live-feed event for all the subscribers who would see the same thing.

A popular stream has thousands of subscribers, and each event used to be executed once per
subscriber: the same selection over the same event, thousands of times on the event loop,
while gifts waited. Here the first subscriber of a selection (document, operation and
variables) renders it, and the others take that result.

What one viewer sees differs from another only where a resolver asks who the viewer is
(``Context.viewer``, ``Context.viewer_is``). A rendering records those questions: one that
found its own viewer in the event (the sender watching their own gift, say) is kept to
itself; one that asked only "is the viewer user N?" and heard no is valid for every viewer
who is not one of those users. Renderings with errors are never shared.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Hashable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from graphql import ExecutionResult


@dataclass(slots=True)
class ViewerReads:
    """The questions about the viewer one rendering asked."""

    asked: set[int] = field(default_factory=set)
    # The answer named the viewer, or a resolver read the viewer itself.
    specific: bool = False


_reads: ContextVar[ViewerReads | None] = ContextVar("viewer_reads", default=None)


def note_viewer_read(user_id: int | None = None, *, matched: bool = True) -> None:
    """Tell a rendering under way that it depends on its viewer: on the viewer being (or
    not being) user ``user_id``, or, with no id, on the viewer as a whole."""
    reads = _reads.get()
    if reads is None:
        return
    if user_id is None or matched:
        reads.specific = True
    else:
        reads.asked.add(user_id)


@dataclass(slots=True)
class _Rendering:
    result: ExecutionResult
    reads: ViewerReads

    def fits(self, viewer_id: int | None) -> bool:
        return viewer_id is None or viewer_id not in self.reads.asked


class SharedRenders:
    """The renderings of one event, by selection. Held by the event the subscribers share,
    so it lives exactly as long as the event is being delivered."""

    __slots__ = ("_operations", "_slots")

    def __init__(self) -> None:
        self._slots: dict[Hashable, asyncio.Future[_Rendering | None]] = {}
        # The operations keyed by id() below, held so no other can take an id while kept.
        self._operations: list[Any] = []

    async def render(
        self,
        operation: Any,
        variables: dict[str, Any],
        viewer_id: int | None,
        execute: Callable[[], Awaitable[ExecutionResult]],
    ) -> ExecutionResult:
        """The result for this viewer: a shared one when it fits, else executed here (and
        shared when it turns out not to depend on the viewer). ``operation`` is the parsed
        operation: documents are parsed once per text and kept, so one text is one object."""
        key = (id(operation), json.dumps(variables, sort_keys=True, default=str))
        while True:
            slot = self._slots.get(key)
            if slot is None:
                self._operations.append(operation)
                return await self._lead(key, execute)
            rendering = await asyncio.shield(slot)
            if rendering is None:
                continue  # that one was its viewer's own: the next waiter renders for all
            if rendering.fits(viewer_id):
                return rendering.result
            return (await _recorded(execute)).result

    async def _lead(
        self, key: Hashable, execute: Callable[[], Awaitable[ExecutionResult]]
    ) -> ExecutionResult:
        slot: asyncio.Future[_Rendering | None] = asyncio.get_running_loop().create_future()
        self._slots[key] = slot
        try:
            rendering = await _recorded(execute)
        except BaseException:
            del self._slots[key]
            slot.set_result(None)
            raise
        if rendering.reads.specific or rendering.result.errors:
            del self._slots[key]
            slot.set_result(None)
        else:
            slot.set_result(rendering)
        return rendering.result


async def _recorded(execute: Callable[[], Awaitable[ExecutionResult]]) -> _Rendering:
    reads = ViewerReads()
    token = _reads.set(reads)
    try:
        result = await execute()
    finally:
        _reads.reset(token)
    return _Rendering(result, reads)

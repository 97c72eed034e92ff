"""Relay connections: one generic ``Connection``, opaque cursors and a capped page size.

Every paginated field is ``paginate(...)`` over a service function that takes a page
size and the position to continue after. ``Connection[Payout]`` is named
``PayoutConnection`` in the schema, its edges ``PayoutEdge``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar, cast

import strawberry

from app.core.errors import DomainError, ErrorCode
from app.core.ids import decode_opaque, encode_opaque
from app.graphql.context import CoinsInfo

NodeT = TypeVar("NodeT")
RowT = TypeVar("RowT")
PositionT = TypeVar("PositionT", int, tuple[int, int])


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class Edge(Generic[NodeT]):
    node: NodeT
    cursor: str


@strawberry.type
class Connection(Generic[NodeT]):
    edges: list[Edge[NodeT]]
    page_info: PageInfo


class Cursor(Generic[RowT, PositionT]):
    """A list's order: a row's position (one or two whole numbers) in an opaque cursor."""

    def __init__(self, kind: str, position: Callable[[RowT], PositionT], size: int = 1) -> None:
        self.prefix = f"cursor.{kind}"
        self.position = position
        self.size = size

    def encode(self, row: RowT) -> str:
        place = self.position(row)
        numbers = place if isinstance(place, tuple) else (place,)
        return ".".join(encode_opaque(self.prefix, number) for number in numbers)

    def decode(self, cursor: str) -> PositionT:
        numbers = [decode_opaque(self.prefix, part) for part in cursor.split(".")]
        if len(numbers) != self.size or None in numbers:
            raise DomainError(
                ErrorCode.INVALID_INPUT, "That cursor is not one this list gave out.", "after"
            )
        return cast(PositionT, numbers[0] if self.size == 1 else tuple(numbers))


def check_page_size(first: int, maximum: int) -> int:
    if first < 0 or first > maximum:
        raise DomainError(
            ErrorCode.INVALID_INPUT, f"first must be between 0 and {maximum}.", "first"
        )
    return first


async def paginate(
    info: CoinsInfo,
    first: int,
    after: str | None,
    cursor: Cursor[RowT, PositionT],
    fetch: Callable[[int, PositionT | None], Awaitable[Sequence[RowT]]],
    node: Callable[[RowT], NodeT],
) -> Connection[NodeT]:
    """One page of ``first`` rows after the cursor ``after``; ``fetch(limit, position)``
    returns up to ``limit`` rows in the list's order after ``position`` (None: from the
    start)."""
    limit = check_page_size(first, info.context.settings.graphql.max_page_size)
    rows = await fetch(limit + 1, None if after is None else cursor.decode(after))
    edges = [Edge(node=node(row), cursor=cursor.encode(row)) for row in rows[:limit]]
    end_cursor = edges[-1].cursor if edges else None
    return Connection(
        edges=edges, page_info=PageInfo(has_next_page=len(rows) > limit, end_cursor=end_cursor)
    )

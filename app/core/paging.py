"""Keyset pages: a list cut after (or before) the row last seen, with its neighbours' cursors.

Offsets skip or repeat rows when the list changes between two clicks and cost more the
deeper one pages; a cursor names the sort key of a row seen, so each row shows once.
A cursor is the row's sort key as whole numbers joined by ``.`` (``"30.12"``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from app.core.errors import DomainError, ErrorCode
from app.core.ids import parse_row_number

T = TypeVar("T")

BROKEN_CURSOR = "That page link is out of date or broken: start again from the first page."


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """Rows in display order; ``after`` ``next_cursor`` is the next page, ``before``
    ``prev_cursor`` the previous one (None where there is none)."""

    items: list[T]
    next_cursor: str | None
    prev_cursor: str | None


def encode_cursor(*keys: int) -> str:
    return ".".join(str(key) for key in keys)


def decode_cursor(raw: str | None, parts: int, field: str) -> tuple[int, ...] | None:
    """The sort key in a cursor, None for no cursor; a malformed one is the caller's error."""
    if raw is None or raw == "":
        return None
    numbers = [parse_row_number(part) for part in raw.split(".")]
    keys = tuple(number for number in numbers if number is not None)
    if len(keys) != parts or len(numbers) != parts:
        raise DomainError(ErrorCode.INVALID_INPUT, BROKEN_CURSOR, field)
    return keys


def cut_page(
    rows: Sequence[T],
    *,
    limit: int,
    cursor_of: Callable[[T], str],
    after: object = None,
    before: object = None,
) -> Page[T]:
    """Make a page of up to ``limit + 1`` rows read in the direction of travel.

    Paging back (``before``), the rows come newest-to-oldest of the sort and are turned
    round here; the extra row only says whether there is more that way.
    """
    more = len(rows) > limit
    items = list(rows[:limit])
    if before is not None:
        items.reverse()
        return Page(
            items,
            next_cursor=cursor_of(items[-1]) if items else None,
            prev_cursor=cursor_of(items[0]) if items and more else None,
        )
    return Page(
        items,
        next_cursor=cursor_of(items[-1]) if items and more else None,
        prev_cursor=cursor_of(items[0]) if items and after is not None else None,
    )

"""Relay connections: opaque cursors and a capped page size."""

from __future__ import annotations

import strawberry

from app.core.errors import DomainError, ErrorCode
from app.core.ids import decode_opaque, encode_opaque


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


def encode_cursor(kind: str, position: int) -> str:
    return encode_opaque(f"cursor.{kind}", position)


def decode_cursor(kind: str, cursor: str | None) -> int | None:
    if cursor is None:
        return None
    position = decode_opaque(f"cursor.{kind}", cursor)
    if position is None:
        raise DomainError(
            ErrorCode.INVALID_INPUT, "That cursor is not one this list gave out.", "after"
        )
    return position


def check_page_size(first: int, maximum: int) -> int:
    if first < 0 or first > maximum:
        raise DomainError(
            ErrorCode.INVALID_INPUT, f"first must be between 0 and {maximum}.", "first"
        )
    return first

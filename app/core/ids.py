"""Opaque ids and cursors: clients see ``Kind:number`` in base64, never bare row numbers."""

from __future__ import annotations

import base64
import binascii

from app.core.errors import DomainError, ErrorCode

# The largest BIGINT: a number beyond it names no row, and PostgreSQL refuses to compare with it.
MAX_ROW_NUMBER = 2**63 - 1


def parse_row_number(text: str) -> int | None:
    """A whole number as we write them (ASCII digits, within BIGINT); None for anything else.

    ``str.isdigit`` and ``int`` accept other scripts' digits (``²``, Arabic-Indic) and
    numbers of any size: both reached the database and failed there as server errors.
    """
    if not text.isascii() or not text.isdigit() or len(text) > len(str(MAX_ROW_NUMBER)):
        return None
    number = int(text)
    return number if number <= MAX_ROW_NUMBER else None


def encode_opaque(kind: str, number: int) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{number}".encode()).decode().rstrip("=")


def decode_opaque(kind: str, value: str) -> int | None:
    """The number inside a value made by ``encode_opaque(kind, ...)``; None for anything else."""
    try:
        raw = base64.urlsafe_b64decode((value + "=" * (-len(value) % 4)).encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    prefix, _, number = raw.partition(":")
    return parse_row_number(number) if prefix == kind else None


def encode_id(type_name: str, row_id: int) -> str:
    return encode_opaque(type_name, row_id)


def decode_id(type_name: str, value: str, field: str = "id") -> int:
    """Read an id made by ``encode_id``; anything else is INVALID_INPUT on ``field``."""
    number = decode_opaque(type_name, value)
    if number is None:
        raise DomainError(ErrorCode.INVALID_INPUT, f"Not a valid {type_name} id.", field)
    return number

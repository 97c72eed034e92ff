"""The service's notion of now: always timezone-aware UTC, replaceable in tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

_now: Callable[[], datetime] = lambda: datetime.now(UTC)  # noqa: E731


def utcnow() -> datetime:
    return _now()


def set_clock(now: Callable[[], datetime] | None) -> None:
    """Let tests move time (spending periods, token expiry); ``None`` restores the wall clock."""
    global _now
    _now = now if now is not None else (lambda: datetime.now(UTC))


def as_utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes for values we stored as UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

"""Reading admin form fields: whole numbers and tick boxes, errors named after the field."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from app.core.errors import DomainError, ErrorCode


def whole_number(form: Any, name: str, *, label: str, required: bool = True) -> int | None:
    """An integer field (thousands separators allowed); blank is None when not required."""
    raw = str(form.get(name, "")).strip().replace(",", "").replace("_", "")
    if not raw:
        if required:
            raise DomainError(ErrorCode.INVALID_INPUT, f"Enter {label}.", name)
        return None
    try:
        return int(raw)
    except ValueError:
        raise DomainError(
            ErrorCode.INVALID_INPUT, f"{label.capitalize()} is a whole number.", name
        ) from None


def ticked(form: Any, name: str) -> bool:
    return str(form.get(name, "")) in ("yes", "on", "true", "1")


def text(form: Any, name: str) -> str:
    value = form.get(name, "")
    return value if isinstance(value, str) else ""


def require_ticked(form: Any, name: str = "confirm") -> None:
    """A destructive action goes ahead only with its confirmation box ticked."""
    if not ticked(form, name):
        raise DomainError(ErrorCode.INVALID_INPUT, "Tick the box to confirm.", name)


def utc_datetime(form: Any, name: str, *, label: str) -> datetime | None:
    """A ``datetime-local`` field read as UTC (the admin shows every time in UTC); blank is
    None."""
    raw = text(form, name).strip()
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise DomainError(
            ErrorCode.INVALID_INPUT, f"{label.capitalize()} is a date and time (UTC).", name
        ) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

"""Countries as clients name them: where a buyer pays (prices) and where a sender is (gifts
limited to regions)."""

from __future__ import annotations

from app.core.errors import DomainError, ErrorCode


def normalize_country(country: str | None, field: str = "country") -> str | None:
    """A two-letter ISO code in capitals; blank means none; anything else INVALID_INPUT."""
    if country is None or not country.strip():
        return None
    code = country.strip().upper()
    if len(code) != 2 or not code.isalpha() or not code.isascii():
        raise DomainError(
            ErrorCode.INVALID_INPUT, "A country is a two-letter ISO code, e.g. GB.", field
        )
    return code

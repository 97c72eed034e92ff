"""Money as integer minor units plus an ISO 4217 code; Decimal only at the API edge."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

# ISO 4217 minor-unit exponents for the currencies we sell in; two is the default.
_EXPONENTS = {"JPY": 0, "KRW": 0, "VND": 0, "CLP": 0, "ISK": 0, "BHD": 3, "KWD": 3}


def minor_unit_exponent(currency_code: str) -> int:
    return _EXPONENTS.get(currency_code.upper(), 2)


@dataclass(frozen=True, slots=True)
class Money:
    """An exact amount of real money: ``amount_minor`` cents (or yen, fils...) of ``currency``."""

    amount_minor: int
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.amount_minor, int) or isinstance(self.amount_minor, bool):
            raise TypeError("Money amounts are integers of minor units")

    @property
    def decimal_amount(self) -> Decimal:
        return Decimal(self.amount_minor).scaleb(-minor_unit_exponent(self.currency))


@dataclass(frozen=True, slots=True)
class Rate:
    """A price of a fraction of a minor unit, e.g. 0.5 cents per diamond, kept as a ratio."""

    numerator_minor: int
    denominator: int
    currency: str

    def floor(self, quantity: int) -> Money:
        """Value of ``quantity`` units, rounded down so the platform never pays a fraction."""
        return Money(quantity * self.numerator_minor // self.denominator, self.currency)

    @property
    def decimal_amount(self) -> Decimal:
        exponent = minor_unit_exponent(self.currency)
        return (Decimal(self.numerator_minor) / Decimal(self.denominator)).scaleb(-exponent)


def parse_money(text: str, currency: str, field: str = "price") -> Money:
    """Read what staff type ("4.99", "1,299") as exact minor units; never through a float."""
    from decimal import InvalidOperation

    from app.core.errors import DomainError, ErrorCode

    code = currency.strip().upper()
    if len(code) != 3 or not code.isalpha():
        raise DomainError(ErrorCode.INVALID_INPUT, "A currency is a 3-letter ISO code.", "currency")
    try:
        amount = Decimal(text.strip().replace(",", ""))
    except InvalidOperation:
        raise DomainError(ErrorCode.INVALID_INPUT, "Give a price like 4.99.", field) from None
    minor = amount.scaleb(minor_unit_exponent(code))
    if not amount.is_finite() or minor != minor.to_integral_value() or minor <= 0:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"A {code} price is positive with at most {minor_unit_exponent(code)} decimals.",
            field,
        )
    return Money(int(minor), code)

"""Types shared by every domain's API."""

from __future__ import annotations

from decimal import Decimal

import strawberry

from app.core import money


@strawberry.type
class Money:
    amount: Decimal
    currency_code: str

    @classmethod
    def of(cls, value: money.Money | money.Rate) -> Money:
        return cls(amount=value.decimal_amount, currency_code=value.currency)

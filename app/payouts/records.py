"""Payout records: what a payout is, what its diamonds are worth, what a creator earned."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.core.clock import as_utc
from app.core.errors import DomainError, ErrorCode
from app.core.money import Money, Rate
from app.payouts.codes import PayoutStatus
from app.payouts.maturation import NOTHING, Maturing
from app.settings import EconomySettings


class PayoutAlreadyDecided(DomainError):
    """Staff tried to decide a payout someone (or something) else already decided."""

    def __init__(self, status: PayoutStatus) -> None:
        super().__init__(
            ErrorCode.INVALID_INPUT,
            f"This payout is already {status.value.lower()}.",
            "payoutId",
        )
        self.status = status


@dataclass(frozen=True, slots=True)
class PayoutRecord:
    id: int
    creator_id: int
    diamonds: int
    amount: Money
    status: PayoutStatus
    payment_reference: str | None
    reason: str
    decided_by: str | None
    requested_at: datetime
    decided_at: datetime | None
    paid_at: datetime | None


@dataclass(frozen=True, slots=True)
class Earnings:
    """A creator's diamonds: ``available`` to request, ``maturing`` (from gifts younger than
    the maturation window, held in the wallet but not yet requestable), ``pending`` held by
    payouts."""

    available_diamonds: int
    pending_diamonds: int
    cash_value: Money
    minimum_payout_diamonds: int
    maturing_diamonds: int = 0
    next_maturity_at: datetime | None = None

    @property
    def diamonds(self) -> int:
        return self.available_diamonds + self.maturing_diamonds + self.pending_diamonds


def cash_amount(diamonds: int, diamond_value: Rate) -> Money:
    """What ``diamonds`` pay out: diamonds x rate, rounded DOWN to a whole minor unit.

    The rounding is in the platform's favour by less than one minor unit: at 0.5 cents a
    diamond, 2,001 diamonds pay 10.00 USD (1,000.5 cents floored), never 10.01.
    """
    return diamond_value.floor(diamonds)


def earnings_of(
    balance: int, held: int, economy: EconomySettings, window: Maturing = NOTHING
) -> Earnings:
    """``cash_value`` is what the available (matured) diamonds would pay out today (never
    negative)."""
    maturing = window.of(balance)
    available = balance - maturing
    return Earnings(
        available_diamonds=available,
        pending_diamonds=held,
        cash_value=cash_amount(max(available, 0), economy.diamond_value),
        minimum_payout_diamonds=economy.minimum_payout_diamonds,
        maturing_diamonds=maturing,
        next_maturity_at=window.next_maturity_at if maturing else None,
    )


def payout_record(row: dict[str, Any]) -> PayoutRecord:
    return PayoutRecord(
        id=row["id"],
        creator_id=row["creator_id"],
        diamonds=row["diamonds"],
        amount=Money(row["amount_minor"], row["currency"]),
        status=PayoutStatus(row["status"]),
        payment_reference=row["payment_reference"],
        reason=row["reason"],
        decided_by=row["decided_by"],
        requested_at=as_utc(row["requested_at"]),
        decided_at=as_utc(row["decided_at"]) if row["decided_at"] else None,
        paid_at=as_utc(row["paid_at"]) if row["paid_at"] else None,
    )

"""``me.statement(month:)``: the creator's monthly statement, the one staff download as CSV
(``app.payouts.statements``), so both always add up to the same ledger balances."""

from __future__ import annotations

from datetime import date, datetime

import strawberry

from app.graphql import ids
from app.graphql.types.common import Money
from app.graphql.types.payouts import Payout
from app.graphql.types.wallet import LedgerEntryKind
from app.ledger.codes import TransferKind
from app.payouts import statements


@strawberry.type
class StatementGift:
    """Gifts of one kind received in one stream during the month."""

    stream_id: strawberry.ID
    stream_title: str
    gift_name: str
    sends: int
    quantity: int
    diamonds: int


@strawberry.type
class StatementGiftDay:
    """Gifts of one kind whose diamonds reached the creator on one UTC day."""

    day: date
    gift_name: str
    sends: int
    quantity: int
    diamonds: int


@strawberry.type
class StatementMovement:
    """Any other move of the creator's diamonds: payout holds and releases, adjustments."""

    at: datetime
    kind: LedgerEntryKind
    diamonds: int = strawberry.field(description="Signed: negative took diamonds away.")
    description: str


@strawberry.type
class CreatorStatement:
    statement: strawberry.Private[statements.Statement]

    @strawberry.field(description="YYYY-MM, UTC.")
    def month(self) -> str:
        return self.statement.month

    @strawberry.field
    def opening_diamonds(self) -> int:
        return self.statement.opening_diamonds

    @strawberry.field(
        description="openingDiamonds + giftDiamonds + the movements' diamonds: the ledger's "
        "balance after the month's last transfer."
    )
    def closing_diamonds(self) -> int:
        return self.statement.closing_diamonds

    @strawberry.field
    def gift_diamonds(self) -> int:
        return self.statement.gift_diamonds

    @strawberry.field(description="Gifts grouped by stream and gift, as in the CSV.")
    def gifts(self) -> list[StatementGift]:
        return [
            StatementGift(
                stream_id=ids.LIVE_STREAM.encode(line.stream_id),
                stream_title=line.stream_title,
                gift_name=line.gift_name,
                sends=line.sends,
                quantity=line.quantity,
                diamonds=line.diamonds,
            )
            for line in self.statement.gifts
        ]

    @strawberry.field(description="The same gifts grouped by UTC day and gift.")
    def gifts_by_day(self) -> list[StatementGiftDay]:
        return [
            StatementGiftDay(
                day=line.day,
                gift_name=line.gift_name,
                sends=line.sends,
                quantity=line.quantity,
                diamonds=line.diamonds,
            )
            for line in self.statement.gifts_by_day
        ]

    @strawberry.field
    def movements(self) -> list[StatementMovement]:
        return [
            StatementMovement(
                at=line.at, kind=line.kind, diamonds=line.diamonds, description=line.description
            )
            for line in self.statement.other
        ]

    @strawberry.field(description="Diamonds the month's payouts held (a positive number).")
    def held_for_payouts_diamonds(self) -> int:
        return -self.statement.total(TransferKind.PAYOUT_HOLD)

    @strawberry.field(description="Payouts requested during the month, with their cash amounts.")
    def payouts(self) -> list[Payout]:
        return [Payout(record=payout) for payout in self.statement.payouts]

    @strawberry.field
    def closing_cash_value(self) -> Money | None:
        value = self.statement.cash_value_of_closing
        return Money.of(value) if value is not None else None

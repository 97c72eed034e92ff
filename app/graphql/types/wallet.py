"""The signed-in user's wallet: balances and ledger entries, newest first."""

from __future__ import annotations

from datetime import datetime

import strawberry

from app import ledger
from app.graphql import ids
from app.graphql.context import CoinsInfo
from app.graphql.pagination import Connection, Cursor, paginate
from app.ledger.codes import Currency, TransferKind

WalletCurrency = strawberry.enum(Currency, name="WalletCurrency")
LedgerEntryKind = strawberry.enum(TransferKind, name="LedgerEntryKind")

ENTRIES: Cursor[ledger.Entry, int] = Cursor("LedgerEntry", lambda entry: entry.transfer_id)


@strawberry.type
class LedgerEntry:
    id: strawberry.ID
    kind: LedgerEntryKind
    currency: WalletCurrency
    amount: int = strawberry.field(
        description="Signed: positive adds to the balance, negative takes from it."
    )
    balance_after: int
    created_at: datetime
    description: str

    @classmethod
    def of(cls, entry: ledger.Entry) -> LedgerEntry:
        return cls(
            id=ids.LEDGER_ENTRY.encode(entry.transfer_id),
            kind=entry.kind,
            currency=entry.currency,
            amount=entry.amount,
            balance_after=entry.balance_after,
            created_at=entry.created_at,
            description=entry.description or entry.kind.value.replace("_", " ").capitalize(),
        )


@strawberry.type
class Wallet:
    user_id: strawberry.Private[int]

    @strawberry.field
    async def coins(self, info: CoinsInfo) -> int:
        return (await info.context.loaders.balances_by_user_id.load(self.user_id))[Currency.COIN]

    @strawberry.field
    async def diamonds(self, info: CoinsInfo) -> int:
        balances = await info.context.loaders.balances_by_user_id.load(self.user_id)
        return balances[Currency.DIAMOND]

    @strawberry.field(
        description=(
            "Newest first. A gift received enters here once settled, milliseconds after it"
            " was sent; `diamonds` counts it at once."
        )
    )
    async def entries(
        self,
        info: CoinsInfo,
        first: int = 20,
        after: str | None = None,
        currency: WalletCurrency | None = None,
        kinds: list[LedgerEntryKind] | None = None,
    ) -> Connection[LedgerEntry]:
        return await paginate(
            info,
            first,
            after,
            ENTRIES,
            lambda limit, before: ledger.list_entries(
                self.user_id, limit=limit, before_transfer_id=before, currency=currency, kinds=kinds
            ),
            LedgerEntry.of,
        )

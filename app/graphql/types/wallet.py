"""The signed-in user's wallet: balances and ledger entries, newest first."""

from __future__ import annotations

from datetime import datetime

import strawberry

from app import ledger
from app.core.ids import encode_id
from app.graphql.context import CoinsInfo
from app.graphql.pagination import PageInfo, check_page_size, decode_cursor, encode_cursor
from app.ledger.codes import Currency, TransferKind

WalletCurrency = strawberry.enum(Currency, name="WalletCurrency")
LedgerEntryKind = strawberry.enum(TransferKind, name="LedgerEntryKind")

ENTRY_CURSOR = "LedgerEntry"


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
            id=strawberry.ID(encode_id("LedgerEntry", entry.transfer_id)),
            kind=entry.kind,
            currency=entry.currency,
            amount=entry.amount,
            balance_after=entry.balance_after,
            created_at=entry.created_at,
            description=entry.description or entry.kind.value.replace("_", " ").capitalize(),
        )


@strawberry.type
class LedgerEntryEdge:
    node: LedgerEntry
    cursor: str


@strawberry.type
class LedgerEntryConnection:
    edges: list[LedgerEntryEdge]
    page_info: PageInfo


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

    @strawberry.field(description="Newest first.")
    async def entries(
        self,
        info: CoinsInfo,
        first: int = 20,
        after: str | None = None,
        currency: WalletCurrency | None = None,
        kinds: list[LedgerEntryKind] | None = None,
    ) -> LedgerEntryConnection:
        limit = check_page_size(first, info.context.settings.graphql.max_page_size)
        rows = await ledger.list_entries(
            self.user_id,
            limit=limit + 1,
            before_transfer_id=decode_cursor(ENTRY_CURSOR, after),
            currency=currency,
            kinds=kinds,
        )
        page = rows[:limit]
        edges = [
            LedgerEntryEdge(
                node=LedgerEntry.of(row), cursor=encode_cursor(ENTRY_CURSOR, row.transfer_id)
            )
            for row in page
        ]
        return LedgerEntryConnection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=len(rows) > limit, end_cursor=edges[-1].cursor if edges else None
            ),
        )

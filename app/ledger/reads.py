"""Reading the ledger: balances, a user's entries, an account's history, daily totals.

Nothing here writes; everything here reads committed transfers (or the caller's own
transaction's), so it is safe anywhere.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from piccolo.query.functions.aggregate import Sum

from app.core.clock import as_utc, utcnow
from app.core.database import is_sqlite
from app.ledger.accounts import system_account_ids, user_account_ids
from app.ledger.codes import AccountCode, Currency, TransferKind
from app.ledger.service import PostedTransfer, posted_transfer
from app.ledger.tables import Account, Transfer


async def user_balances(user_ids: Sequence[int]) -> dict[int, dict[Currency, int]]:
    """Balances per user and currency (0 for a currency without an account)."""
    if not user_ids:
        return {}
    rows = await Account.select(Account.user_id, Account.currency, Account.balance).where(
        Account.user_id.is_in(list(set(user_ids)))
    )
    found: dict[int, dict[Currency, int]] = {uid: dict.fromkeys(Currency, 0) for uid in user_ids}
    for row in rows:
        found[row["user_id"]][Currency(row["currency"])] = row["balance"]
    return found


async def system_balance(code: AccountCode) -> int:
    """A system account's balance: the sum of its shards."""
    rows = await Account.select(Account.balance).where(
        Account.id.is_in(await system_account_ids(code))
    )
    return sum(row["balance"] for row in rows)


async def account_balance(account_id: int) -> int:
    row = await Account.select(Account.balance).where(Account.id == account_id).first()
    if row is None:
        raise RuntimeError(f"no ledger account {account_id}")
    return row["balance"]


async def transfers_of_kind(kind: TransferKind) -> dict[int, PostedTransfer]:
    """Every transfer of ``kind`` by id (reconciling a domain with the ledger)."""
    rows = await Transfer.select().where(Transfer.kind == kind.value)
    return {row["id"]: posted_transfer(row) for row in rows}


async def debited_after(account_id: int, transfer_id: int, kinds: Sequence[TransferKind]) -> int:
    """What transfers of ``kinds`` after ``transfer_id`` (in id order) took from an account."""
    row = (
        await Transfer.select(Sum(Transfer.amount).as_alias("total"))
        .where(
            (Transfer.debit_account_id == account_id)
            & (Transfer.id > transfer_id)
            & Transfer.kind.is_in([kind.value for kind in kinds])
        )
        .first()
    )
    return int(row["total"] or 0) if row else 0


@dataclass(frozen=True, slots=True)
class Entry:
    """One side of a transfer, seen from a user's account: signed amount, balance after."""

    transfer_id: int
    operation_id: int
    kind: TransferKind
    currency: Currency
    amount: int
    balance_after: int
    created_at: datetime
    description: str


def _entry(row: Mapping[str, Any], currency_of: Mapping[int, Currency]) -> Entry:
    debit_side = row["debit_account_id"] in currency_of
    account_id = row["debit_account_id"] if debit_side else row["credit_account_id"]
    amount = row["amount"]
    return Entry(
        transfer_id=row["id"],
        operation_id=row["operation_id"],
        kind=TransferKind(row["kind"]),
        currency=currency_of[account_id],
        amount=-amount if debit_side else amount,
        balance_after=row["debit_balance_after" if debit_side else "credit_balance_after"],
        created_at=as_utc(row["created_at"]),
        description=row["description"],
    )


async def list_entries(
    user_id: int,
    *,
    limit: int,
    before_transfer_id: int | None = None,
    currency: Currency | None = None,
    kinds: Sequence[TransferKind] | None = None,
) -> list[Entry]:
    """Newest first; ``limit`` rows at most, older than ``before_transfer_id`` when given."""
    accounts = (await user_account_ids([user_id])).get(user_id, {})
    currency_of = {
        account_id: cur for cur, account_id in accounts.items() if currency in (None, cur)
    }
    if not currency_of or kinds == []:
        return []
    # One index range per account and side, each newest first and cut at ``limit``, so a
    # page costs the same for an account with ten transfers or ten million. (An OR of the
    # two sides read every transfer of the account to sort them, or walked the whole
    # transfer table backwards, whichever the planner guessed cheaper.)
    filters, args = "", list[object]()
    if before_transfer_id is not None:
        filters += " AND id < {}"
        args.append(before_transfer_id)
    if kinds:
        filters += f" AND kind IN ({', '.join('{}' for _ in kinds)})"
        args += [k.value for k in kinds]
    ranges, values = list[str](), list[object]()
    for account_id in sorted(currency_of):
        for side in ("debit_account_id", "credit_account_id"):
            ranges.append(
                f"SELECT * FROM (SELECT * FROM ledger_transfer WHERE {side} = {{}}{filters} "  # noqa: S608 (only "{}" placeholders are formatted in)
                f"ORDER BY id DESC LIMIT {{}}) AS r{len(ranges)}"
            )
            values += [account_id, *args, limit]
    rows = await Transfer.raw(
        f"SELECT * FROM ({' UNION ALL '.join(ranges)}) AS entries ORDER BY id DESC LIMIT {{}}",  # noqa: S608 (only "{}" placeholders are formatted in)
        *values,
        limit,
    )
    return [_entry(row, currency_of) for row in rows]


@dataclass(frozen=True, slots=True)
class History:
    """An account's movements in a time window and its balance when the window opened."""

    opening: int
    entries: list[Entry]

    @property
    def closing(self) -> int:
        return self.entries[-1].balance_after if self.entries else self.opening


async def account_history(
    user_id: int, currency: Currency, *, since: datetime, until: datetime
) -> History:
    """Oldest first: every transfer of the user's ``currency`` account in [since, until)."""
    account_id = (await user_account_ids([user_id])).get(user_id, {}).get(currency)
    if account_id is None:
        return History(0, [])
    currency_of = {account_id: currency}
    touches = (Transfer.debit_account_id == account_id) | (Transfer.credit_account_id == account_id)
    before = (
        await Transfer.select()
        .where(touches & (Transfer.created_at < since))
        .order_by(Transfer.id, ascending=False)
        .first()
    )
    rows = (
        await Transfer.select()
        .where(touches & (Transfer.created_at >= since) & (Transfer.created_at < until))
        .order_by(Transfer.id)
    )
    opening = _entry(before, currency_of).balance_after if before else 0
    return History(opening, [_entry(row, currency_of) for row in rows])


def _day_expression() -> str:
    # Timestamps are stored in UTC on both engines; a day is a UTC day.
    if is_sqlite():
        return "substr(created_at, 1, 10)"
    return "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')"


async def daily_totals(
    days: int, now: datetime | None = None
) -> dict[date, dict[TransferKind, tuple[int, int]]]:
    """Per UTC day of the last ``days`` days (today included): (transfer count, amount) by kind."""
    today = (now or utcnow()).date()
    first = today - timedelta(days=days - 1)
    since = datetime.combine(first, datetime.min.time(), tzinfo=(now or utcnow()).tzinfo)
    day = _day_expression()
    rows = await Transfer.raw(
        f"SELECT {day} AS day, kind, COUNT(*) AS transfers, SUM(amount) AS amount "  # noqa: S608
        "FROM ledger_transfer WHERE created_at >= {} GROUP BY 1, 2",
        since,
    )
    totals: dict[date, dict[TransferKind, tuple[int, int]]] = defaultdict(dict)
    for offset in range(days):
        totals[first + timedelta(days=offset)] = {}
    for row in rows:
        totals[date.fromisoformat(row["day"])][TransferKind(row["kind"])] = (
            int(row["transfers"]),
            int(row["amount"]),
        )
    return dict(totals)

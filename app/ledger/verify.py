"""``coins ledger verify``: re-derive every balance from the transfers and check the chain.

Checks, each reported by name:
- ``zero-sum``: for each currency the balances of all accounts sum to zero;
- ``balance``: each account's balance equals its credits minus its debits;
- ``balance-after``: each transfer's recorded balances match the running balances;
- ``negative``: no user balance went below zero except by a clawback or adjustment, and no
  system account that must stay non-negative did;
- ``chain``: each transfer's hash matches its fields and the previous hashes of both its
  accounts, and each account's head is its newest transfer (edited, inserted or deleted
  transfers break it);
- ``operation``: every operation has exactly the transfers it recorded, all or none;
- ``transfer``: amounts positive, two distinct accounts of one currency;
- whatever each ``Reconciler`` the caller passes checks of a domain against the balances
  (``app.integrity`` passes them all: e.g. ``payout-hold``, PAYOUT_HOLD against open payouts).

Transfers are read in id order, in batches, so memory grows with accounts, not history.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from app.ledger.chain import GENESIS, transfer_hash
from app.ledger.codes import OVERDRAFT_KINDS, AccountCode
from app.ledger.tables import Account, Operation, Transfer

BATCH_SIZE = 5_000


@dataclass(frozen=True, slots=True)
class Breach:
    check: str
    message: str

    def __str__(self) -> str:
        return f"[{self.check}] {self.message}"


@dataclass(frozen=True, slots=True)
class Report:
    breaches: list[Breach]
    accounts: int
    transfers: int
    operations: int

    @property
    def ok(self) -> bool:
        return not self.breaches


@dataclass(frozen=True, slots=True)
class Balances:
    """The balances as read by a verification run, for reconcilers to compare against."""

    accounts: dict[int, dict[str, Any]]

    def system(self, code: AccountCode) -> int:
        return sum(
            a["balance"]
            for a in self.accounts.values()
            if a["user_id"] is None and a["code"] == code.value
        )


Reconciler = Callable[[Balances], Awaitable[list[Breach]]]


async def verify_ledger(reconcilers: Sequence[Reconciler] = ()) -> Report:
    accounts = {row["id"]: row for row in await Account.select()}
    breaches: list[Breach] = []
    running: dict[int, int] = dict.fromkeys(accounts, 0)
    heads: dict[int, str] = dict.fromkeys(accounts, GENESIS)
    per_operation: Counter[int] = Counter()
    transfers = 0
    last_id = 0
    while True:
        batch = await (
            Transfer.select().where(Transfer.id > last_id).order_by(Transfer.id).limit(BATCH_SIZE)
        )
        if not batch:
            break
        for row in batch:
            transfers += 1
            last_id = row["id"]
            breaches += _check_transfer(row, accounts, running, heads)
            per_operation[row["operation_id"]] += 1

    sums: defaultdict[str, int] = defaultdict(int)
    for account_id, account in accounts.items():
        sums[account["currency"]] += account["balance"]
        if account["balance"] != running[account_id]:
            breaches.append(
                Breach(
                    "balance",
                    f"account {account_id} ({_label(account)}) has balance {account['balance']} "
                    f"but its transfers add up to {running[account_id]}",
                )
            )
        if account["head_hash"] != heads[account_id]:
            breaches.append(
                Breach(
                    "chain",
                    f"account {account_id} ({_label(account)}) head hash does not match its "
                    "newest transfer: a transfer was removed, added or edited",
                )
            )
    for currency, total in sorted(sums.items()):
        if total != 0:
            breaches.append(Breach("zero-sum", f"{currency} balances sum to {total}, not 0"))

    operations = await Operation.select(Operation.id, Operation.transfer_count)
    known = set()
    for operation in operations:
        known.add(operation["id"])
        counted = per_operation.get(operation["id"], 0)
        if counted != operation["transfer_count"]:
            breaches.append(
                Breach(
                    "operation",
                    f"operation {operation['id']} recorded {operation['transfer_count']} "
                    f"transfers but has {counted}",
                )
            )
    for orphan in sorted(set(per_operation) - known):
        breaches.append(Breach("operation", f"transfers belong to missing operation {orphan}"))
    for reconcile in reconcilers:
        breaches += await reconcile(Balances(accounts))
    return Report(breaches, len(accounts), transfers, len(operations))


def _check_transfer(
    row: dict, accounts: dict[int, dict], running: dict[int, int], heads: dict[int, str]
) -> list[Breach]:
    found: list[Breach] = []
    tid, debit_id, credit_id, amount = (
        row["id"],
        row["debit_account_id"],
        row["credit_account_id"],
        row["amount"],
    )
    debit, credit = accounts.get(debit_id), accounts.get(credit_id)
    if debit is None or credit is None:
        return [Breach("transfer", f"transfer {tid} names a missing account")]
    if amount <= 0 or debit_id == credit_id or debit["currency"] != credit["currency"]:
        found.append(
            Breach("transfer", f"transfer {tid} is malformed (amount {amount}, accounts differ?)")
        )
    expected = transfer_hash(
        prev_debit_hash=heads[debit_id],
        prev_credit_hash=heads[credit_id],
        operation_id=row["operation_id"],
        kind=row["kind"],
        debit_account_id=debit_id,
        credit_account_id=credit_id,
        amount=amount,
        created_at=row["created_at"],
        detail=row["detail"],
    )
    if expected != row["hash"]:
        found.append(
            Breach(
                "chain",
                f"transfer {tid} does not match its hash: it, or a transfer before it on "
                f"accounts {debit_id}/{credit_id}, was edited, inserted or removed",
            )
        )
    heads[debit_id] = heads[credit_id] = row["hash"]
    running[debit_id] -= amount
    running[credit_id] += amount
    for account_id, account, after, side in (
        (debit_id, debit, row["debit_balance_after"], "debit"),
        (credit_id, credit, row["credit_balance_after"], "credit"),
    ):
        if running[account_id] != after:
            found.append(
                Breach(
                    "balance-after",
                    f"transfer {tid} records {side} balance {after} for account {account_id}, "
                    f"but the transfers before it give {running[account_id]}",
                )
            )
        clawed_back = account["code"] == AccountCode.USER and row["kind"] in OVERDRAFT_KINDS
        overdrawn = running[account_id] < 0 and not account["may_go_negative"]
        if side == "debit" and overdrawn and not clawed_back:
            found.append(
                Breach(
                    "negative",
                    f"transfer {tid} ({row['kind']}) took account {account_id} "
                    f"({_label(account)}) to {running[account_id]}",
                )
            )
    return found


def _label(account: dict) -> str:
    if account["user_id"] is not None:
        return f"user {account['user_id']} {account['currency']}"
    return f"{account['code']} {account['currency']}"

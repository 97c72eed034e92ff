"""The ledger: the only code that writes balances, through one entry point, ``run_operation``.

Guarantees
- Every movement is a ``Transfer`` from one account to another of the same currency, with a
  positive integer amount, a kind, its operation, and both balances after it.
- Transfers are never updated or deleted; a mistake is corrected by a compensating transfer.
- A debit is checked against the balance read under the account's row lock and written by
  an ``UPDATE`` conditional on that balance: concurrent spends can never take a user below
  zero. Only ``OVERDRAFT_KINDS`` (clawbacks, staff adjustments) may. The server-side twin
  (``ledger_post_transfer``, PostgreSQL) debits with ``UPDATE ... WHERE balance >= amount``.
- The rows an operation touches are locked in ascending id order, so operations never
  deadlock each other. A domain's own rows are written first (in ``build``), the ledger's
  accounts last, so the busiest locks are held for the shortest time; posting takes three
  statements however many legs an operation has.
- An operation's transfers, its idempotency key and its result commit in one transaction.
  The same key with the same request replays the first result; with another request it is
  ``IDEMPOTENCY_KEY_REUSED``; two concurrent requests with one key move value once.
- Each transfer extends the hash chain of both its accounts (``app.ledger.chain``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Generic, TypeVar

from app.core.clock import as_utc, utcnow
from app.core.database import is_sqlite, is_unique_violation, rows_source
from app.core.errors import DomainError, ErrorCode
from app.core.transactions import RetryTransaction, in_transaction, resolve_by_key
from app.ledger.chain import transfer_hash
from app.ledger.codes import OVERDRAFT_KINDS, TransferKind
from app.ledger.tables import Account, Operation, Transfer

T = TypeVar("T")

MAX_IDEMPOTENCY_KEY_LENGTH = 128


@dataclass(frozen=True, slots=True)
class Leg:
    """A transfer to post: ``amount`` moves from the debit account to the credit account."""

    kind: TransferKind
    debit_account_id: int
    credit_account_id: int
    amount: int
    description: str = ""
    # A digest of what the transfer stands for in bulk; its hash covers it (see chain.py).
    detail: str = ""


@dataclass(frozen=True, slots=True)
class PostedTransfer:
    id: int
    operation_id: int
    kind: TransferKind
    debit_account_id: int
    credit_account_id: int
    amount: int
    debit_balance_after: int
    credit_balance_after: int
    description: str
    created_at: datetime
    detail: str = ""


@dataclass(frozen=True, slots=True)
class OpenOperation:
    """The operation ``build`` is writing, in the current transaction."""

    id: int
    kind: str
    user_id: int | None


@dataclass(frozen=True, slots=True)
class Plan(Generic[T]):
    """What ``build`` decided: the legs to post, the reference a replay of the key returns
    (the id of the domain's record), and the value the first run hands back to its caller."""

    legs: Sequence[Leg]
    result_ref: str
    value: T


@dataclass(frozen=True, slots=True)
class Outcome(Generic[T]):
    """What ``run_operation`` did. On a replay ``value`` is None, nothing new was posted and
    ``transfers`` are the first run's: the caller loads its record from ``result_ref``."""

    operation_id: int
    result_ref: str | None
    value: T | None = None
    transfers: list[PostedTransfer] = field(default_factory=list)
    replayed: bool = False


def request_fingerprint(request: Mapping[str, object]) -> str:
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def validate_idempotency_key(key: str) -> str:
    if not key or len(key) > MAX_IDEMPOTENCY_KEY_LENGTH or not key.isprintable():
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"An idempotency key is 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} printable characters.",
            "idempotencyKey",
        )
    return key


async def run_operation(
    kind: str,
    *,
    user_id: int | None,
    build: Callable[[OpenOperation], Awaitable[Plan[T]]],
    idempotency_key: str | None = None,
    request: Mapping[str, object] | None = None,
) -> Outcome[T]:
    """Run one business operation that moves value: the only way any domain does.

    In one transaction (the caller's, when one is open): the idempotency key is claimed or
    its first result replayed; ``build`` checks what it must, writes the domain's own rows
    and returns a ``Plan``; its legs are posted all or nothing; the result is recorded.
    A ``DomainError`` from ``build`` or from a debit rolls all of it back.
    """
    if idempotency_key is not None:
        if user_id is None:
            raise ValueError("idempotency keys are scoped to a user")
        validate_idempotency_key(idempotency_key)
    fingerprint = (
        request_fingerprint({"kind": kind, **(request or {})})
        if idempotency_key is not None
        else None
    )

    async def work() -> Outcome[T]:
        if idempotency_key is not None:
            resolve_by_key(idempotency_key)  # a COMMIT with a lost answer re-runs to the replay
            replay = await _replay(kind, user_id, idempotency_key, fingerprint)
            if replay is not None:
                return replay
        operation = await _open(kind, user_id, idempotency_key, fingerprint)
        plan = await build(operation)
        posted = await _post(operation, plan.legs)
        await Operation.update(
            {Operation.result_ref: plan.result_ref, Operation.transfer_count: len(posted)}
        ).where(Operation.id == operation.id)
        return Outcome(operation.id, plan.result_ref, plan.value, posted)

    return await in_transaction(work)


async def transfer(
    kind: TransferKind,
    *,
    debit_account_id: int,
    credit_account_id: int,
    amount: int,
    user_id: int | None = None,
    idempotency_key: str | None = None,
    description: str = "",
) -> Outcome[None]:
    """Move ``amount`` between two accounts as an operation of its own (adjustments, seeds)."""

    async def build(operation: OpenOperation) -> Plan[None]:
        leg = Leg(kind, debit_account_id, credit_account_id, amount, description)
        return Plan([leg], str(operation.id), None)

    return await run_operation(
        f"TRANSFER:{kind.value}",
        user_id=user_id,
        idempotency_key=idempotency_key,
        request={"debit": debit_account_id, "credit": credit_account_id, "amount": amount},
        build=build,
    )


# Inside run_operation ------------------------------------------------------------------


async def _replay(
    kind: str, user_id: int | None, key: str, fingerprint: str | None
) -> Outcome[T] | None:
    existing = (
        await Operation.select(Operation.id, Operation.request_hash, Operation.result_ref)
        .where((Operation.user_id == user_id) & (Operation.idempotency_key == key))
        .first()
    )
    if existing is None:
        return None
    if existing["request_hash"] != fingerprint:
        raise DomainError(
            ErrorCode.IDEMPOTENCY_KEY_REUSED,
            "This idempotency key was already used for a different request.",
            "idempotencyKey",
        )
    transfers = await transfers_of(existing["id"])
    return Outcome(existing["id"], existing["result_ref"], transfers=transfers, replayed=True)


async def transfers_of(operation_id: int) -> list[PostedTransfer]:
    """The transfers an operation posted, in order."""
    rows = (
        await Transfer.select().where(Transfer.operation_id == operation_id).order_by(Transfer.id)
    )
    return [posted_transfer(row) for row in rows]


def posted_transfer(row: Mapping[str, Any]) -> PostedTransfer:
    return PostedTransfer(
        id=row["id"],
        operation_id=row["operation_id"],
        kind=TransferKind(row["kind"]),
        debit_account_id=row["debit_account_id"],
        credit_account_id=row["credit_account_id"],
        amount=row["amount"],
        debit_balance_after=row["debit_balance_after"],
        credit_balance_after=row["credit_balance_after"],
        description=row["description"],
        created_at=as_utc(row["created_at"]),
        detail=row["detail"],
    )


async def _open(
    kind: str, user_id: int | None, key: str | None, fingerprint: str | None
) -> OpenOperation:
    try:
        rows = await Operation.insert(
            Operation(
                kind=kind,
                user_id=user_id,
                idempotency_key=key,
                request_hash=fingerprint,
                created_at=utcnow(),
            )
        ).returning(Operation.id)
    except Exception as error:
        if is_unique_violation(error):
            # A concurrent request with the same key committed first: start over and replay it.
            raise RetryTransaction("idempotency key taken concurrently") from error
        raise
    return OpenOperation(id=rows[0]["id"], kind=kind, user_id=user_id)


async def _post(operation: OpenOperation, legs: Sequence[Leg]) -> list[PostedTransfer]:
    """Post ``legs`` in order, all or nothing, in three statements whatever their number.

    The accounts are locked in ascending id order and read (balances, chain heads); each
    debit is checked against the balance under that lock (INSUFFICIENT_FUNDS unless the
    account or the transfer kind may overdraw); then one UPDATE writes every touched
    account, conditional on the balance it locked, and one INSERT writes the transfers.
    """
    for leg in legs:
        if not isinstance(leg.amount, int) or isinstance(leg.amount, bool) or leg.amount <= 0:
            raise ValueError(f"transfer amounts are positive integers, not {leg.amount!r}")
        if leg.debit_account_id == leg.credit_account_id:
            raise ValueError("a transfer needs two different accounts")
    if not legs:
        return []
    accounts = await _lock_accounts(
        {a for leg in legs for a in (leg.debit_account_id, leg.credit_account_id)}
    )
    now = utcnow()
    posted: list[PostedTransfer] = []
    hashes: list[str] = []
    for leg in legs:
        debit, credit = accounts[leg.debit_account_id], accounts[leg.credit_account_id]
        if debit.currency != credit.currency:
            raise ValueError("a transfer moves one currency between accounts of that currency")
        covered = debit.balance >= leg.amount or debit.may_go_negative
        if not covered and leg.kind not in OVERDRAFT_KINDS:
            raise DomainError(ErrorCode.INSUFFICIENT_FUNDS, "Not enough balance for this.")
        new_hash = transfer_hash(
            prev_debit_hash=debit.head_hash,
            prev_credit_hash=credit.head_hash,
            operation_id=operation.id,
            kind=leg.kind.value,
            debit_account_id=leg.debit_account_id,
            credit_account_id=leg.credit_account_id,
            amount=leg.amount,
            created_at=now,
            detail=leg.detail,
        )
        debit.balance -= leg.amount
        credit.balance += leg.amount
        debit.head_hash = credit.head_hash = new_hash
        hashes.append(new_hash)
        posted.append(
            PostedTransfer(
                id=0,
                operation_id=operation.id,
                kind=leg.kind,
                debit_account_id=leg.debit_account_id,
                credit_account_id=leg.credit_account_id,
                amount=leg.amount,
                debit_balance_after=debit.balance,
                credit_balance_after=credit.balance,
                description=leg.description,
                created_at=now,
                detail=leg.detail,
            )
        )
    await _write_accounts(accounts)
    rows = await _insert_transfers(posted, hashes, now)
    ids = sorted(row["id"] for row in rows)  # one statement: ids ascend in insertion order
    return [
        replace(record, id=transfer_id) for record, transfer_id in zip(posted, ids, strict=True)
    ]


# On PostgreSQL the transfers go in as one array per column: the statement's text is the
# same whatever their number (asyncpg prepares it once, not once per batch size), and no
# Table object or placeholder is built per row (a settlement batch posts one per creator).
_INSERT_TRANSFERS = (
    "INSERT INTO ledger_transfer (operation_id, kind, debit_account_id, credit_account_id, "
    "amount, debit_balance_after, credit_balance_after, description, created_at, hash, detail) "
    "SELECT operation_id, kind, debit_account_id, credit_account_id, amount, "
    "debit_balance_after, credit_balance_after, description, {}::timestamptz, hash, detail "
    "FROM unnest({}::bigint[], {}::text[], {}::bigint[], {}::bigint[], {}::bigint[], "
    "{}::bigint[], {}::bigint[], {}::text[], {}::text[], {}::text[]) AS t(operation_id, kind, "
    "debit_account_id, credit_account_id, amount, debit_balance_after, credit_balance_after, "
    "description, hash, detail) RETURNING id"
)


async def _insert_transfers(
    posted: Sequence[PostedTransfer], hashes: Sequence[str], now: datetime
) -> list[dict[str, Any]]:
    if is_sqlite():
        return await Transfer.insert(
            *(
                Transfer(
                    operation_id=record.operation_id,
                    kind=record.kind.value,
                    debit_account_id=record.debit_account_id,
                    credit_account_id=record.credit_account_id,
                    amount=record.amount,
                    debit_balance_after=record.debit_balance_after,
                    credit_balance_after=record.credit_balance_after,
                    description=record.description,
                    created_at=now,
                    hash=new_hash,
                    detail=record.detail,
                )
                for record, new_hash in zip(posted, hashes, strict=True)
            )
        ).returning(Transfer.id)
    return await Transfer.raw(
        _INSERT_TRANSFERS,
        now,
        [r.operation_id for r in posted],
        [r.kind.value for r in posted],
        [r.debit_account_id for r in posted],
        [r.credit_account_id for r in posted],
        [r.amount for r in posted],
        [r.debit_balance_after for r in posted],
        [r.credit_balance_after for r in posted],
        [r.description for r in posted],
        list(hashes),
        [r.detail for r in posted],
    )


@dataclass(slots=True)
class _Locked:
    """An account as this transaction holds it: its balance and chain head, as they go."""

    currency: str
    may_go_negative: bool
    locked_balance: int
    balance: int
    head_hash: str


async def _lock_accounts(account_ids: set[int]) -> dict[int, _Locked]:
    """Lock the accounts in ascending id order (one statement) and read them.

    SQLite's ``BEGIN IMMEDIATE`` already gives this transaction the only write lock.
    """
    ordered = sorted(account_ids)
    columns = "SELECT id, currency, may_go_negative, balance, head_hash FROM ledger_account "
    if is_sqlite():
        rows = await Account.raw(
            f"{columns}WHERE id IN ({', '.join('{}' for _ in ordered)})",
            *ordered,
        )
    else:  # one array: the same statement for any number of accounts
        rows = await Account.raw(
            f"{columns}WHERE id = ANY({{}}::bigint[]) ORDER BY id FOR UPDATE", ordered
        )
    found = {
        row["id"]: _Locked(
            row["currency"],
            bool(row["may_go_negative"]),
            row["balance"],
            row["balance"],
            row["head_hash"],
        )
        for row in rows
    }
    missing = set(ordered) - found.keys()
    if missing:
        raise ValueError(f"no ledger accounts {sorted(missing)}")
    return found


async def _write_accounts(accounts: dict[int, _Locked]) -> None:
    """One UPDATE for every account: its new balance and head, where the balance is still
    the one this transaction locked (it always is; a mismatch is a bug, never a retry)."""
    ordered = sorted(accounts.items())
    source, args = rows_source(
        [
            ("BIGINT", [account_id for account_id, _ in ordered]),
            ("BIGINT", [account.locked_balance for _, account in ordered]),
            ("BIGINT", [account.balance for _, account in ordered]),
            ("TEXT", [account.head_hash for _, account in ordered]),
        ]
    )
    rows = await Account.raw(
        "UPDATE ledger_account SET balance = v.column3, head_hash = v.column4 "  # noqa: S608 (only "{}" placeholders are formatted in)
        f"FROM {source} "
        "WHERE ledger_account.id = v.column1 AND ledger_account.balance = v.column2 "
        "RETURNING ledger_account.id",
        *args,
    )
    if len(rows) != len(accounts):
        raise RuntimeError("a locked ledger account changed under its lock")

"""The ledger: the only code that writes balances, through one entry point, ``run_operation``.

Guarantees
- Every movement is a ``Transfer`` from one account to another of the same currency, with a
  positive integer amount, a kind, its operation, and both balances after it.
- Transfers are never updated or deleted; a mistake is corrected by a compensating transfer.
- A debit is one conditional ``UPDATE ... WHERE balance >= amount``: no read-then-write, so
  concurrent spends can never take a user below zero. Only ``OVERDRAFT_KINDS`` (clawbacks,
  staff adjustments) may.
- The rows an operation touches are locked in ascending id order, so operations never
  deadlock each other. A domain's own rows are written first (in ``build``), the ledger's
  accounts last, so the busiest locks are held for the shortest time.
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
from typing import Generic, TypeVar

from app.core.clock import as_utc, utcnow
from app.core.database import is_sqlite, is_unique_violation
from app.core.errors import DomainError, ErrorCode
from app.core.transactions import RetryTransaction, in_transaction
from app.ledger.chain import transfer_hash
from app.ledger.codes import OVERDRAFT_KINDS, TransferKind
from app.ledger.tables import Account, Operation, Transfer

T = TypeVar("T")

MAX_IDEMPOTENCY_KEY_LENGTH = 128

# The debit is one conditional update: it succeeds only while the balance covers it.
_DEBIT_COVERED = (
    "UPDATE ledger_account SET balance = balance - {}, head_hash = {} "
    "WHERE id = {} AND (balance >= {} OR may_go_negative) RETURNING balance"
)
# Clawbacks and staff adjustments take back value the user had, even into the negative.
_DEBIT_ANY = (
    "UPDATE ledger_account SET balance = balance - {}, head_hash = {} WHERE id = {} "
    "RETURNING balance"
)
_CREDIT = (
    "UPDATE ledger_account SET balance = balance + {}, head_hash = {} WHERE id = {} "
    "RETURNING balance"
)


@dataclass(frozen=True, slots=True)
class Leg:
    """A transfer to post: ``amount`` moves from the debit account to the credit account."""

    kind: TransferKind
    debit_account_id: int
    credit_account_id: int
    amount: int
    description: str = ""


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
    return [
        PostedTransfer(
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
        )
        for row in rows
    ]


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
    """Post ``legs`` in order, all or nothing.

    Raises INSUFFICIENT_FUNDS when a debit would take an account below zero and the
    transfer kind does not allow it; the transaction then rolls everything back.
    """
    for leg in legs:
        if not isinstance(leg.amount, int) or isinstance(leg.amount, bool) or leg.amount <= 0:
            raise ValueError(f"transfer amounts are positive integers, not {leg.amount!r}")
        if leg.debit_account_id == leg.credit_account_id:
            raise ValueError("a transfer needs two different accounts")
    if not legs:
        return []
    heads = await _lock_accounts(
        {a for leg in legs for a in (leg.debit_account_id, leg.credit_account_id)}
    )
    now = utcnow()
    posted: list[PostedTransfer] = []
    for leg in legs:
        debit, credit = heads[leg.debit_account_id], heads[leg.credit_account_id]
        if debit.currency != credit.currency:
            raise ValueError("a transfer moves one currency between accounts of that currency")
        new_hash = transfer_hash(
            prev_debit_hash=debit.head_hash,
            prev_credit_hash=credit.head_hash,
            operation_id=operation.id,
            kind=leg.kind.value,
            debit_account_id=leg.debit_account_id,
            credit_account_id=leg.credit_account_id,
            amount=leg.amount,
            created_at=now,
        )
        if leg.kind in OVERDRAFT_KINDS:
            debited = await Account.raw(_DEBIT_ANY, leg.amount, new_hash, leg.debit_account_id)
        else:
            debited = await Account.raw(
                _DEBIT_COVERED, leg.amount, new_hash, leg.debit_account_id, leg.amount
            )
        if not debited:
            raise DomainError(ErrorCode.INSUFFICIENT_FUNDS, "Not enough balance for this.")
        credited = await Account.raw(_CREDIT, leg.amount, new_hash, leg.credit_account_id)
        record = PostedTransfer(
            id=0,
            operation_id=operation.id,
            kind=leg.kind,
            debit_account_id=leg.debit_account_id,
            credit_account_id=leg.credit_account_id,
            amount=leg.amount,
            debit_balance_after=debited[0]["balance"],
            credit_balance_after=credited[0]["balance"],
            description=leg.description,
            created_at=now,
        )
        inserted = await Transfer.insert(
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
            )
        ).returning(Transfer.id)
        debit.head_hash = credit.head_hash = new_hash
        posted.append(replace(record, id=inserted[0]["id"]))
    return posted


@dataclass(slots=True)
class _Head:
    currency: str
    head_hash: str


async def _lock_accounts(account_ids: set[int]) -> dict[int, _Head]:
    """Lock the accounts in ascending id order and read their chain heads.

    SQLite's ``BEGIN IMMEDIATE`` already gives this transaction the only write lock.
    """
    ordered = sorted(account_ids)
    if is_sqlite():
        rows = await Account.select(Account.id, Account.currency, Account.head_hash).where(
            Account.id.is_in(ordered)
        )
    else:
        rows = []
        for account_id in ordered:
            rows += await Account.raw(
                "SELECT id, currency, head_hash FROM ledger_account WHERE id = {} FOR UPDATE",
                account_id,
            )
    heads = {row["id"]: _Head(row["currency"], row["head_hash"]) for row in rows}
    missing = set(ordered) - heads.keys()
    if missing:
        raise ValueError(f"no ledger accounts {sorted(missing)}")
    return heads

"""The ledger: the only code that writes balances.

Guarantees
- Every movement is a ``Transfer`` from one account to another of the same currency, with a
  positive integer amount, a kind, its operation, and both balances after it.
- Transfers are never updated or deleted; a mistake is corrected by a compensating transfer.
- A debit is one conditional ``UPDATE ... WHERE balance >= amount``: no read-then-write, so
  concurrent spends can never take a user below zero. Only ``OVERDRAFT_KINDS`` (clawbacks,
  staff adjustments) may.
- The rows an operation touches are locked in ascending id order, so operations never
  deadlock each other.
- An operation's transfers, its idempotency key and its result commit in one transaction.
  The same key with the same request replays the first result; with another request it is
  ``IDEMPOTENCY_KEY_REUSED``; two concurrent requests with one key move value once.
- Each transfer extends the hash chain of both its accounts (``app.ledger.chain``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from app.core.clock import as_utc, utcnow
from app.core.database import current_engine, is_sqlite, is_unique_violation
from app.core.errors import DomainError, ErrorCode
from app.core.transactions import RetryTransaction, in_transaction
from app.ledger.chain import transfer_hash
from app.ledger.codes import OVERDRAFT_KINDS, SYSTEM_ACCOUNTS, AccountCode, Currency, TransferKind
from app.ledger.tables import Account, Operation, Transfer

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


@dataclass(slots=True)
class OpenOperation:
    """An operation being written in the current transaction."""

    id: int
    kind: str
    user_id: int | None
    transfer_count: int = 0


@dataclass(frozen=True, slots=True)
class Replay:
    """The idempotency key was seen with this same request: here is what it produced."""

    operation_id: int
    result_ref: str | None


@dataclass(frozen=True, slots=True)
class OperationResult:
    operation_id: int
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


def _require_transaction() -> None:
    if current_engine().current_transaction.get() is None:
        raise RuntimeError("ledger writes must run inside in_transaction()")


# Accounts ------------------------------------------------------------------------------


async def ensure_system_accounts() -> None:
    """Create the platform's accounts once; safe to call on every migrate."""
    now = utcnow()
    for code, (currency, may_go_negative) in SYSTEM_ACCOUNTS.items():
        await Account.raw(
            "INSERT INTO ledger_account (code, currency, user_id, balance, may_go_negative, "
            "head_hash, created_at) VALUES ({}, {}, NULL, 0, {}, '', {}) ON CONFLICT DO NOTHING",
            code.value,
            currency.value,
            may_go_negative,
            now,
        )


async def open_user_accounts(user_id: int) -> None:
    """Give a user a coin and a diamond account (inside the sign-up transaction)."""
    now = utcnow()
    for currency in Currency:
        await Account.raw(
            "INSERT INTO ledger_account (code, currency, user_id, balance, may_go_negative, "
            "head_hash, created_at) VALUES ({}, {}, {}, 0, {}, '', {}) ON CONFLICT DO NOTHING",
            AccountCode.USER.value,
            currency.value,
            user_id,
            False,
            now,
        )


# System account ids never change once created; remembered per engine object (engines do
# not take weak references, so the entry keeps its engine to make ``id`` reuse harmless),
# so the gift path does not look them up on every send.
_system_ids: dict[int, tuple[object, dict[AccountCode, int]]] = {}


async def system_account_id(code: AccountCode) -> int:
    engine = current_engine()
    cached = _system_ids.get(id(engine))
    if cached is None or cached[0] is not engine:
        cached = _system_ids[id(engine)] = (engine, {})
    known = cached[1]
    if code not in known:
        known[code] = await _find_system_account(code)
    return known[code]


async def _find_system_account(code: AccountCode) -> int:
    currency, _ = SYSTEM_ACCOUNTS[code]
    row = (
        await Account.select(Account.id)
        .where((Account.code == code.value) & (Account.currency == currency.value))
        .where(Account.user_id.is_null())
        .first()
    )
    if row is None:
        raise RuntimeError(f"system account {code} is missing: run `coins migrate`")
    return row["id"]


async def user_account_ids(user_ids: Sequence[int]) -> dict[int, dict[Currency, int]]:
    """Account ids per user and currency, for many users in one query."""
    if not user_ids:
        return {}
    rows = await Account.select(Account.id, Account.user_id, Account.currency).where(
        Account.user_id.is_in(list(set(user_ids)))
    )
    found: dict[int, dict[Currency, int]] = {}
    for row in rows:
        found.setdefault(row["user_id"], {})[Currency(row["currency"])] = row["id"]
    return found


async def user_account_id(user_id: int, currency: Currency) -> int:
    accounts = await user_account_ids([user_id])
    try:
        return accounts[user_id][currency]
    except KeyError:
        raise DomainError(ErrorCode.NOT_FOUND, "No such user.") from None


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


async def account_balance(account_id: int) -> int:
    row = await Account.select(Account.balance).where(Account.id == account_id).first()
    if row is None:
        raise RuntimeError(f"no ledger account {account_id}")
    return row["balance"]


# Operations ----------------------------------------------------------------------------


async def open_operation(
    kind: str,
    *,
    user_id: int | None,
    idempotency_key: str | None = None,
    request: Mapping[str, object] | None = None,
) -> OpenOperation | Replay:
    """Start an operation in the current transaction, or replay the one its key names."""
    _require_transaction()
    fingerprint = None
    if idempotency_key is not None:
        if user_id is None:
            raise ValueError("idempotency keys are scoped to a user")
        validate_idempotency_key(idempotency_key)
        fingerprint = request_fingerprint({"kind": kind, **(request or {})})
        existing = (
            await Operation.select(Operation.id, Operation.request_hash, Operation.result_ref)
            .where((Operation.user_id == user_id) & (Operation.idempotency_key == idempotency_key))
            .first()
        )
        if existing is not None:
            if existing["request_hash"] != fingerprint:
                raise DomainError(
                    ErrorCode.IDEMPOTENCY_KEY_REUSED,
                    "This idempotency key was already used for a different request.",
                    "idempotencyKey",
                )
            return Replay(operation_id=existing["id"], result_ref=existing["result_ref"])
    try:
        rows = await Operation.raw(
            "INSERT INTO ledger_operation (kind, user_id, idempotency_key, request_hash, "
            "result_ref, transfer_count, created_at) VALUES ({}, {}, {}, {}, NULL, 0, {}) "
            "RETURNING id",
            kind,
            user_id,
            idempotency_key,
            fingerprint,
            utcnow(),
        )
    except Exception as error:
        if is_unique_violation(error):
            # A concurrent request with the same key committed first: start over and replay it.
            raise RetryTransaction("idempotency key taken concurrently") from error
        raise
    return OpenOperation(id=rows[0]["id"], kind=kind, user_id=user_id)


async def set_result(operation: OpenOperation, result_ref: str) -> None:
    """Record what the operation produced, so a replay of its key can return it."""
    _require_transaction()
    await Operation.update({Operation.result_ref: result_ref}).where(Operation.id == operation.id)


async def post_transfers(operation: OpenOperation, legs: Sequence[Leg]) -> list[PostedTransfer]:
    """Post ``legs`` in order, all or nothing, as part of ``operation``.

    Raises INSUFFICIENT_FUNDS when a debit would take an account below zero and the
    transfer kind does not allow it; the caller's transaction then rolls everything back.
    """
    _require_transaction()
    if not legs:
        return []
    for leg in legs:
        if not isinstance(leg.amount, int) or isinstance(leg.amount, bool) or leg.amount <= 0:
            raise ValueError(f"transfer amounts are positive integers, not {leg.amount!r}")
        if leg.debit_account_id == leg.credit_account_id:
            raise ValueError("a transfer needs two different accounts")

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
        credited = await Account.raw(
            "UPDATE ledger_account SET balance = balance + {}, head_hash = {} WHERE id = {} "
            "RETURNING balance",
            leg.amount,
            new_hash,
            leg.credit_account_id,
        )
        inserted = await Transfer.raw(
            "INSERT INTO ledger_transfer (operation_id, kind, debit_account_id, credit_account_id, "
            "amount, debit_balance_after, credit_balance_after, description, created_at, hash) "
            "VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}) RETURNING id",
            operation.id,
            leg.kind.value,
            leg.debit_account_id,
            leg.credit_account_id,
            leg.amount,
            debited[0]["balance"],
            credited[0]["balance"],
            leg.description,
            now,
            new_hash,
        )
        debit.head_hash = credit.head_hash = new_hash
        posted.append(
            PostedTransfer(
                id=inserted[0]["id"],
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
        )
    operation.transfer_count += len(posted)
    await Operation.update({Operation.transfer_count: operation.transfer_count}).where(
        Operation.id == operation.id
    )
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


async def transfers_of(operation_id: int) -> list[PostedTransfer]:
    rows = (
        await Transfer.select().where(Transfer.operation_id == operation_id).order_by(Transfer.id)
    )
    return [_posted(row) for row in rows]


def _posted(row: Mapping[str, object]) -> PostedTransfer:
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
    )


async def transfer(
    kind: TransferKind,
    *,
    debit_account_id: int,
    credit_account_id: int,
    amount: int,
    user_id: int | None = None,
    idempotency_key: str | None = None,
    description: str = "",
) -> OperationResult:
    """Move ``amount`` between two accounts as an operation of its own (adjustments, seeds)."""

    async def work() -> OperationResult:
        started = await open_operation(
            f"TRANSFER:{kind.value}",
            user_id=user_id,
            idempotency_key=idempotency_key,
            request={
                "debit": debit_account_id,
                "credit": credit_account_id,
                "amount": amount,
            },
        )
        if isinstance(started, Replay):
            return OperationResult(
                started.operation_id, await transfers_of(started.operation_id), True
            )
        posted = await post_transfers(
            started, [Leg(kind, debit_account_id, credit_account_id, amount, description)]
        )
        await set_result(started, str(started.id))
        return OperationResult(started.id, posted)

    return await in_transaction(work)


# Reading a user's entries --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Entry:
    """One side of a transfer, seen from a user's account: signed amount, balance after."""

    transfer_id: int
    kind: TransferKind
    currency: Currency
    amount: int
    balance_after: int
    created_at: datetime
    description: str


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
    ids = list(currency_of)
    query = Transfer.select().where(
        Transfer.debit_account_id.is_in(ids) | Transfer.credit_account_id.is_in(ids)
    )
    if before_transfer_id is not None:
        query = query.where(Transfer.id < before_transfer_id)
    if kinds:
        query = query.where(Transfer.kind.is_in([k.value for k in kinds]))
    rows = await query.order_by(Transfer.id, ascending=False).limit(limit)
    entries = []
    for row in rows:
        debit_side = row["debit_account_id"] in currency_of
        account_id = row["debit_account_id"] if debit_side else row["credit_account_id"]
        entries.append(
            Entry(
                transfer_id=row["id"],
                kind=TransferKind(row["kind"]),
                currency=currency_of[account_id],
                amount=-row["amount"] if debit_side else row["amount"],
                balance_after=row["debit_balance_after"]
                if debit_side
                else row["credit_balance_after"],
                created_at=as_utc(row["created_at"]),
                description=row["description"],
            )
        )
    return entries

"""Ledger accounts: the platform's system accounts and each user's coin and diamond account.

A sharded system account (``SHARDED_ACCOUNTS``) is one account per shard, each with its own
chain; ``system_account_id(code, key)`` picks the shard of ``key`` (a user id), so one user's
movements always meet the same shard and different users' rarely meet at all. Totals of a
system account add up its shards (``system_balance``).
"""

from __future__ import annotations

from collections.abc import Sequence

from app.core.clock import utcnow
from app.core.database import current_engine
from app.core.errors import DomainError, ErrorCode
from app.ledger.codes import (
    DEFAULT_SHARDS,
    SHARDED_ACCOUNTS,
    SYSTEM_ACCOUNTS,
    AccountCode,
    Currency,
)
from app.ledger.tables import Account

_INSERT_ACCOUNT = (
    "INSERT INTO ledger_account (code, currency, user_id, balance, may_go_negative, "
    "head_hash, shard, created_at) VALUES ({}, {}, {}, 0, {}, '', {}, {}) ON CONFLICT DO NOTHING"
)


async def ensure_system_accounts(shards: int = DEFAULT_SHARDS) -> None:
    """Create the platform's accounts (``shards`` of each sharded one); safe on every migrate.

    Raising ``shards`` later adds shards. Shards are never removed: each keeps its balance
    and chain, and ``system_account_id`` spreads over every shard that exists."""
    if shards < 1:
        raise ValueError("a sharded system account needs at least one shard")
    now = utcnow()
    for code, (currency, may_go_negative) in SYSTEM_ACCOUNTS.items():
        for shard in range(shards if code in SHARDED_ACCOUNTS else 1):
            await Account.raw(
                _INSERT_ACCOUNT, code.value, currency.value, None, may_go_negative, shard, now
            )
    _system_ids.pop(id(current_engine()), None)


async def open_user_accounts(user_id: int) -> None:
    """Give a user a coin and a diamond account (inside the sign-up transaction)."""
    now = utcnow()
    for currency in Currency:
        await Account.raw(
            _INSERT_ACCOUNT, AccountCode.USER.value, currency.value, user_id, False, 0, now
        )


# System account ids never change once created; remembered per engine object (engines do
# not take weak references, so the entry keeps its engine to make ``id`` reuse harmless),
# so the gift path does not look them up on every send. Shards in shard order.
_system_ids: dict[int, tuple[object, dict[AccountCode, list[int]]]] = {}


async def system_account_ids(code: AccountCode) -> list[int]:
    """Every account of a system code, in shard order (one, unless the code is sharded)."""
    engine = current_engine()
    cached = _system_ids.get(id(engine))
    if cached is None or cached[0] is not engine:
        cached = _system_ids[id(engine)] = (engine, {})
    known = cached[1]
    if code not in known:
        known[code] = await _find_system_accounts(code)
    return known[code]


async def system_account_id(code: AccountCode, key: int = 0) -> int:
    """The account of ``code`` for ``key`` (a user id): its shard, when the code is sharded."""
    ids = await system_account_ids(code)
    return ids[key % len(ids)]


async def _find_system_accounts(code: AccountCode) -> list[int]:
    currency, _ = SYSTEM_ACCOUNTS[code]
    rows = (
        await Account.select(Account.id)
        .where((Account.code == code.value) & (Account.currency == currency.value))
        .where(Account.user_id.is_null())
        .order_by(Account.shard)
    )
    if not rows:
        raise RuntimeError(f"system account {code} is missing: run `coins migrate`")
    return [row["id"] for row in rows]


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

"""Ledger tables. Rows of ``Transfer`` are never updated or deleted.

Columns mirror ``piccolo_migrations/``; constraints Piccolo cannot declare on SQLite
(partial unique indexes, checks) live in those migrations.
"""

from piccolo.columns import BigInt, Boolean, Integer, Text, Timestamptz, Varchar
from piccolo.table import Table


class Account(Table, tablename="ledger_account"):
    code = Varchar(length=32)
    currency = Varchar(length=16)
    user_id = BigInt(null=True, default=None)
    balance = BigInt(default=0)
    may_go_negative = Boolean(default=False)
    # Which of a sharded system account's accounts this is (0 for everything else).
    shard = Integer(default=0)
    # Hash of the newest transfer touching this account: the head of its chain.
    head_hash = Varchar(length=64, default="")
    created_at = Timestamptz()


class Operation(Table, tablename="ledger_operation"):
    """One business operation: its transfers all commit together or not at all."""

    kind = Varchar(length=32)
    user_id = BigInt(null=True, default=None)
    idempotency_key = Varchar(length=128, null=True, default=None)
    request_hash = Varchar(length=64, null=True, default=None)
    result_ref = Text(null=True, default=None)
    transfer_count = Integer(default=0)
    created_at = Timestamptz()


class Transfer(Table, tablename="ledger_transfer"):
    operation_id = BigInt()
    kind = Varchar(length=32)
    debit_account_id = BigInt()
    credit_account_id = BigInt()
    amount = BigInt()
    debit_balance_after = BigInt()
    credit_balance_after = BigInt()
    description = Text(default="")
    created_at = Timestamptz()
    hash = Varchar(length=64)
    # A digest the hash covers of what the transfer stands for in bulk (settled gift events).
    detail = Varchar(length=64, default="")

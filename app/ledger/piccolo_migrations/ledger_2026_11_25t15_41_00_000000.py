"""Ledger: accounts, operations (idempotency) and append-only transfers."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from app.core.migrations import sql_migration

ID = "2026-11-25T15:41:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Create ledger accounts, operations and transfers"

DDL = """
CREATE TABLE ledger_account (
    id {pk},
    code VARCHAR(32) NOT NULL,
    currency VARCHAR(16) NOT NULL,
    user_id BIGINT REFERENCES coins_user (id),
    balance BIGINT NOT NULL DEFAULT 0,
    may_go_negative BOOLEAN NOT NULL DEFAULT false,
    head_hash VARCHAR(64) NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL,
    CHECK (balance >= 0 OR may_go_negative OR code = 'USER'),
    CHECK ((code = 'USER') = (user_id IS NOT NULL))
);
CREATE UNIQUE INDEX ledger_account_user_currency ON ledger_account (user_id, currency)
    WHERE user_id IS NOT NULL;
CREATE UNIQUE INDEX ledger_account_system_code ON ledger_account (code, currency)
    WHERE user_id IS NULL;

CREATE TABLE ledger_operation (
    id {pk},
    kind VARCHAR(32) NOT NULL,
    user_id BIGINT REFERENCES coins_user (id),
    idempotency_key VARCHAR(128),
    request_hash VARCHAR(64),
    result_ref TEXT,
    transfer_count INTEGER NOT NULL DEFAULT 0,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX ledger_operation_idempotency ON ledger_operation (user_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

CREATE TABLE ledger_transfer (
    id {pk},
    operation_id BIGINT NOT NULL REFERENCES ledger_operation (id),
    kind VARCHAR(32) NOT NULL,
    debit_account_id BIGINT NOT NULL REFERENCES ledger_account (id),
    credit_account_id BIGINT NOT NULL REFERENCES ledger_account (id),
    amount BIGINT NOT NULL,
    debit_balance_after BIGINT NOT NULL,
    credit_balance_after BIGINT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL,
    hash VARCHAR(64) NOT NULL,
    CHECK (amount > 0),
    CHECK (debit_account_id <> credit_account_id)
);
CREATE INDEX ledger_transfer_debit ON ledger_transfer (debit_account_id, id);
CREATE INDEX ledger_transfer_credit ON ledger_transfer (credit_account_id, id);
CREATE INDEX ledger_transfer_operation ON ledger_transfer (operation_id)
"""


async def forwards() -> MigrationManager:
    return sql_migration(ID, "ledger", DESCRIPTION, DDL)

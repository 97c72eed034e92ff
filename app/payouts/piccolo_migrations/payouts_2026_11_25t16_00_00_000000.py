"""Payouts, the per-creator daily totals behind the cap, and the sandbox provider's log."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from app.core.migrations import sql_migration

ID = "2026-11-25T16:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Create payouts, daily payout totals and sandbox payout transfers"

DDL = """
CREATE TABLE payout (
    id {pk},
    creator_id BIGINT NOT NULL REFERENCES coins_user (id),
    diamonds BIGINT NOT NULL,
    amount_minor BIGINT NOT NULL,
    currency VARCHAR(3) NOT NULL,
    status VARCHAR(16) NOT NULL DEFAULT 'PENDING',
    operation_id BIGINT NOT NULL REFERENCES ledger_operation (id),
    requested_day DATE NOT NULL,
    payment_reference VARCHAR(128),
    reason TEXT NOT NULL DEFAULT '',
    decided_by VARCHAR(64),
    requested_at TIMESTAMPTZ NOT NULL,
    decided_at TIMESTAMPTZ,
    paid_at TIMESTAMPTZ,
    CHECK (diamonds > 0),
    CHECK (amount_minor >= 0),
    CHECK (status IN ('PENDING', 'APPROVED', 'PAID', 'REJECTED', 'CANCELLED')),
    CHECK ((status = 'PAID') = (payment_reference IS NOT NULL))
);
CREATE UNIQUE INDEX payout_operation ON payout (operation_id);
CREATE INDEX payout_creator ON payout (creator_id, id);
CREATE INDEX payout_status ON payout (status, id);

CREATE TABLE payout_daily_total (
    id {pk},
    creator_id BIGINT NOT NULL REFERENCES coins_user (id),
    day DATE NOT NULL,
    diamonds BIGINT NOT NULL DEFAULT 0,
    CHECK (diamonds >= 0)
);
CREATE UNIQUE INDEX payout_daily_total_creator_day ON payout_daily_total (creator_id, day);

CREATE TABLE payout_sandbox_transfer (
    id {pk},
    payout_id BIGINT NOT NULL REFERENCES payout (id),
    amount_minor BIGINT NOT NULL,
    currency VARCHAR(3) NOT NULL,
    reference VARCHAR(128) NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX payout_sandbox_transfer_payout ON payout_sandbox_transfer (payout_id)
"""


async def forwards() -> MigrationManager:
    return sql_migration(ID, "payouts", DESCRIPTION, DDL)

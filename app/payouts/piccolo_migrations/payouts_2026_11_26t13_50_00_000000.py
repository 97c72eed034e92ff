"""Creators' payout accounts at the provider, and the Stripe transfers behind payouts."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from app.core.migrations import sql_migration

ID = "2026-11-26T13:50:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Create payout accounts and Stripe payout transfers"

DDL = """
CREATE TABLE payout_account (
    id {pk},
    creator_id BIGINT NOT NULL REFERENCES coins_user (id),
    provider VARCHAR(16) NOT NULL,
    account_id VARCHAR(255) NOT NULL,
    details_submitted BOOLEAN NOT NULL DEFAULT FALSE,
    payouts_enabled BOOLEAN NOT NULL DEFAULT FALSE,
    state_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX payout_account_creator ON payout_account (creator_id);
CREATE UNIQUE INDEX payout_account_account ON payout_account (provider, account_id);

CREATE TABLE payout_stripe_transfer (
    id {pk},
    payout_id BIGINT NOT NULL REFERENCES payout (id),
    account_id VARCHAR(255) NOT NULL,
    transfer_id VARCHAR(255) NOT NULL,
    stripe_payout_id VARCHAR(255) NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX payout_stripe_transfer_payout ON payout_stripe_transfer (payout_id)
"""


async def forwards() -> MigrationManager:
    return sql_migration(ID, "payouts", DESCRIPTION, DDL)

"""Shard the busiest system accounts, and let a transfer carry a digest of what it settles.

Every gift used to lock the one coin sink and the one diamond-issuance account, so all
gifts on the platform waited for each other. Sharded codes now have one account per shard
(``ensure_system_accounts`` creates them; the shard is chosen by the sender), each with its
own hash chain. ``detail`` is a digest a transfer's hash covers (the gift events a batched
settlement credits); empty for ordinary transfers, whose hashes do not change.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from app.core.migrations import sql_migration

ID = "2026-11-26T02:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Shard system accounts; a transfer detail digest"

DDL = """
ALTER TABLE ledger_account ADD COLUMN shard INTEGER NOT NULL DEFAULT 0;
DROP INDEX ledger_account_system_code;
CREATE UNIQUE INDEX ledger_account_system_code ON ledger_account (code, currency, shard)
    WHERE user_id IS NULL;
ALTER TABLE ledger_transfer ADD COLUMN detail VARCHAR(64) NOT NULL DEFAULT ''
"""


# Balances and chain heads are updated all day and indexed by nothing: leave room on each
# page so those updates stay HOT (no new index entries, no page splits).
POSTGRES_ONLY = ("ALTER TABLE ledger_account SET (fillfactor = 70)",)


async def forwards() -> MigrationManager:
    return sql_migration(ID, "ledger", DESCRIPTION, DDL, postgres_only=POSTGRES_ONLY)

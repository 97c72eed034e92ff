"""Partial refunds and the dispute lifecycle.

``purchase.refunded_minor``/``refunded_coins``: the money refunded so far (cumulative, as the
provider reports it) and the coins clawed back for it; ``disputed_coins``: the coins open or
lost disputes took. ``purchase_dispute``: one row per provider dispute, with the coins it
holds (OPEN) or took for good (LOST). ``purchase_clawback``: every coin movement of a refund
or dispute, with its ledger operation. Purchases refunded before this migration were
refunded in full.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from app.core.migrations import sql_migration

ID = "2026-11-26T13:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Partial refunds, disputes and the clawback history of purchases"

DDL = """
ALTER TABLE purchase ADD COLUMN refunded_minor BIGINT NOT NULL DEFAULT 0;
ALTER TABLE purchase ADD COLUMN refunded_coins INTEGER NOT NULL DEFAULT 0;
ALTER TABLE purchase ADD COLUMN disputed_coins INTEGER NOT NULL DEFAULT 0;

UPDATE purchase SET refunded_minor = price_minor, refunded_coins = coins + bonus_coins
    WHERE status = 'REFUNDED' AND refund_operation_id IS NOT NULL;

CREATE TABLE purchase_dispute (
    id {pk},
    purchase_id BIGINT NOT NULL REFERENCES purchase (id),
    provider VARCHAR(16) NOT NULL,
    dispute_id VARCHAR(255) NOT NULL,
    status VARCHAR(16) NOT NULL,
    amount_minor BIGINT NOT NULL,
    coins INTEGER NOT NULL,
    opened_at TIMESTAMPTZ,
    closed_at TIMESTAMPTZ,
    CHECK (coins >= 0 AND amount_minor >= 0)
);
CREATE UNIQUE INDEX purchase_dispute_once ON purchase_dispute (provider, dispute_id);
CREATE INDEX purchase_dispute_purchase ON purchase_dispute (purchase_id);

CREATE TABLE purchase_clawback (
    id {pk},
    purchase_id BIGINT NOT NULL REFERENCES purchase (id),
    user_id BIGINT NOT NULL REFERENCES coins_user (id),
    kind VARCHAR(24) NOT NULL,
    coins INTEGER NOT NULL,
    operation_id BIGINT NOT NULL REFERENCES ledger_operation (id),
    reason VARCHAR(64) NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL,
    CHECK (coins > 0)
);
CREATE INDEX purchase_clawback_purchase ON purchase_clawback (purchase_id, id);
CREATE INDEX purchase_clawback_created ON purchase_clawback (created_at);

INSERT INTO purchase_clawback (purchase_id, user_id, kind, coins, operation_id, reason, created_at)
    SELECT id, user_id, 'REFUND', coins + bonus_coins, refund_operation_id, refund_reason,
           refunded_at
    FROM purchase WHERE refund_operation_id IS NOT NULL AND refunded_at IS NOT NULL
"""


async def forwards() -> MigrationManager:
    return sql_migration(ID, "purchases", DESCRIPTION, DDL)

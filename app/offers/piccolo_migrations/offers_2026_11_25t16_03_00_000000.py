"""Partner offers, their pool of discount codes, and redemptions."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from app.core.migrations import sql_migration

ID = "2026-11-25T16:03:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Create partner offers, offer codes and redemptions"

DDL = """
CREATE TABLE partner_offer (
    id {pk},
    brand VARCHAR(64) NOT NULL,
    title VARCHAR(120) NOT NULL,
    coin_cost BIGINT NOT NULL,
    active BOOLEAN NOT NULL DEFAULT true,
    created_at TIMESTAMPTZ NOT NULL,
    CHECK (coin_cost > 0)
);

CREATE TABLE offer_code (
    id {pk},
    offer_id BIGINT NOT NULL REFERENCES partner_offer (id),
    code VARCHAR(128) NOT NULL,
    redeemed_by BIGINT REFERENCES coins_user (id),
    redeemed_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX offer_code_unique ON offer_code (offer_id, code);
CREATE INDEX offer_code_free ON offer_code (offer_id, id) WHERE redeemed_by IS NULL;

CREATE TABLE redemption (
    id {pk},
    operation_id BIGINT NOT NULL REFERENCES ledger_operation (id),
    offer_id BIGINT NOT NULL REFERENCES partner_offer (id),
    user_id BIGINT NOT NULL REFERENCES coins_user (id),
    code_id BIGINT NOT NULL REFERENCES offer_code (id),
    code VARCHAR(128) NOT NULL,
    coins BIGINT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX redemption_operation ON redemption (operation_id);
CREATE UNIQUE INDEX redemption_code ON redemption (code_id);
CREATE INDEX redemption_user ON redemption (user_id, id)
"""


async def forwards() -> MigrationManager:
    return sql_migration(ID, "offers", DESCRIPTION, DDL)

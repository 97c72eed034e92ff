"""Web checkouts (Stripe PaymentIntents bound to a user, a package and a price) and the
over-limit mark on purchases that arrived already paid past the buyer's purchase limits."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from app.core.migrations import sql_migration

ID = "2026-11-26T13:11:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Create web checkouts; mark purchases over the purchase limits"

DDL = """
ALTER TABLE purchase ADD COLUMN over_limit BOOLEAN NOT NULL DEFAULT false;

CREATE TABLE purchase_checkout (
    id {pk},
    user_id BIGINT NOT NULL REFERENCES coins_user (id),
    package_id BIGINT NOT NULL REFERENCES purchase_coin_package (id),
    country VARCHAR(2) NOT NULL DEFAULT '',
    price_minor BIGINT NOT NULL,
    currency VARCHAR(3) NOT NULL,
    idempotency_key VARCHAR(128) NOT NULL,
    request_hash VARCHAR(64) NOT NULL,
    payment_intent_id VARCHAR(255) NOT NULL,
    status VARCHAR(16) NOT NULL,
    paid_minor BIGINT,
    paid_currency VARCHAR(3),
    purchase_id BIGINT REFERENCES purchase (id),
    created_at TIMESTAMPTZ NOT NULL,
    settled_at TIMESTAMPTZ,
    CHECK (price_minor > 0)
);
CREATE UNIQUE INDEX purchase_checkout_key ON purchase_checkout (user_id, idempotency_key);
CREATE UNIQUE INDEX purchase_checkout_intent ON purchase_checkout (payment_intent_id)
"""


async def forwards() -> MigrationManager:
    return sql_migration(ID, "purchases", DESCRIPTION, DDL)

"""Purchases: coin packages with country prices, purchases, processed webhook events."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from app.core.migrations import sql_migration

ID = "2026-11-25T16:10:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Create coin packages, purchases and webhook events"

DDL = """
CREATE TABLE purchase_coin_package (
    id {pk},
    platform VARCHAR(16) NOT NULL,
    product_id VARCHAR(128) NOT NULL DEFAULT '',
    coins INTEGER NOT NULL,
    bonus_coins INTEGER NOT NULL DEFAULT 0,
    price_minor BIGINT NOT NULL,
    currency VARCHAR(3) NOT NULL,
    active BOOLEAN NOT NULL DEFAULT true,
    created_at TIMESTAMPTZ NOT NULL,
    CHECK (coins > 0 AND bonus_coins >= 0 AND price_minor > 0)
);
CREATE INDEX purchase_coin_package_on_sale ON purchase_coin_package (platform, active, price_minor);

CREATE TABLE purchase_coin_package_price (
    id {pk},
    package_id BIGINT NOT NULL REFERENCES purchase_coin_package (id),
    country VARCHAR(2) NOT NULL,
    price_minor BIGINT NOT NULL,
    currency VARCHAR(3) NOT NULL,
    CHECK (price_minor > 0)
);
CREATE UNIQUE INDEX purchase_coin_package_price_country
    ON purchase_coin_package_price (package_id, country);

CREATE TABLE purchase (
    id {pk},
    user_id BIGINT NOT NULL REFERENCES coins_user (id),
    package_id BIGINT NOT NULL REFERENCES purchase_coin_package (id),
    provider VARCHAR(16) NOT NULL,
    provider_transaction_id VARCHAR(255) NOT NULL,
    coins INTEGER NOT NULL,
    bonus_coins INTEGER NOT NULL,
    price_minor BIGINT NOT NULL,
    currency VARCHAR(3) NOT NULL,
    status VARCHAR(16) NOT NULL,
    operation_id BIGINT NOT NULL REFERENCES ledger_operation (id),
    refund_operation_id BIGINT REFERENCES ledger_operation (id),
    refund_reason VARCHAR(64) NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL,
    refunded_at TIMESTAMPTZ
);
CREATE UNIQUE INDEX purchase_provider_transaction ON purchase (provider, provider_transaction_id);
CREATE INDEX purchase_user ON purchase (user_id, id);

CREATE TABLE purchase_webhook_event (
    id {pk},
    provider VARCHAR(16) NOT NULL,
    event_id VARCHAR(255) NOT NULL,
    event_type VARCHAR(64) NOT NULL,
    received_at TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX purchase_webhook_event_once ON purchase_webhook_event (provider, event_id)
"""


async def forwards() -> MigrationManager:
    return sql_migration(ID, "purchases", DESCRIPTION, DDL)

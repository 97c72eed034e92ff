"""The gift catalog with price versions, and gift events with their price snapshot."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from app.core.migrations import sql_migration

ID = "2026-11-25T16:01:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Create gifts, gift versions and gift events"

DDL = """
CREATE TABLE gift (
    id {pk},
    slug VARCHAR(64) NOT NULL,
    current_version_id BIGINT,
    retired BOOLEAN NOT NULL DEFAULT false,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX gift_slug_key ON gift (slug);

CREATE TABLE gift_version (
    id {pk},
    gift_id BIGINT NOT NULL REFERENCES gift (id),
    name VARCHAR(64) NOT NULL,
    coin_cost BIGINT NOT NULL,
    diamond_value BIGINT NOT NULL,
    image_url TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    CHECK (coin_cost > 0 AND diamond_value > 0)
);
CREATE INDEX gift_version_gift ON gift_version (gift_id, id);

CREATE TABLE gift_event (
    id {pk},
    operation_id BIGINT NOT NULL REFERENCES ledger_operation (id),
    stream_id BIGINT NOT NULL REFERENCES live_stream (id),
    gift_id BIGINT NOT NULL REFERENCES gift (id),
    gift_version_id BIGINT NOT NULL REFERENCES gift_version (id),
    sender_id BIGINT NOT NULL REFERENCES coins_user (id),
    host_id BIGINT NOT NULL REFERENCES coins_user (id),
    quantity INTEGER NOT NULL,
    coins BIGINT NOT NULL,
    diamonds BIGINT NOT NULL,
    combo_count INTEGER NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    CHECK (quantity > 0 AND coins > 0 AND diamonds > 0 AND combo_count > 0)
);
CREATE UNIQUE INDEX gift_event_operation ON gift_event (operation_id);
CREATE INDEX gift_event_stream ON gift_event (stream_id, id);
CREATE INDEX gift_event_sender ON gift_event (sender_id, id);
CREATE INDEX gift_event_host ON gift_event (host_id, id)
"""


async def forwards() -> MigrationManager:
    return sql_migration(ID, "gifts", DESCRIPTION, DDL)

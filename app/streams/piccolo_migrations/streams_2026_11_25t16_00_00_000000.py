"""Live streams with running totals, and each sender's total per stream."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from app.core.migrations import sql_migration

ID = "2026-11-25T16:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Create live streams and per-stream gifter totals"

DDL = """
CREATE TABLE live_stream (
    id {pk},
    host_id BIGINT NOT NULL REFERENCES coins_user (id),
    title VARCHAR(120) NOT NULL,
    status VARCHAR(16) NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    ended_at TIMESTAMPTZ,
    coins_received BIGINT NOT NULL DEFAULT 0,
    gift_count BIGINT NOT NULL DEFAULT 0,
    CHECK (status IN ('LIVE', 'ENDED')),
    CHECK (coins_received >= 0 AND gift_count >= 0)
);
CREATE UNIQUE INDEX live_stream_one_live_per_host ON live_stream (host_id)
    WHERE status = 'LIVE';
CREATE INDEX live_stream_live_by_coins ON live_stream (status, coins_received, id);

CREATE TABLE stream_gifter (
    id {pk},
    stream_id BIGINT NOT NULL REFERENCES live_stream (id),
    sender_id BIGINT NOT NULL REFERENCES coins_user (id),
    coins BIGINT NOT NULL DEFAULT 0,
    last_event_id BIGINT NOT NULL DEFAULT 0,
    last_gift_id BIGINT NOT NULL DEFAULT 0,
    last_sent_at TIMESTAMPTZ NOT NULL,
    combo_count INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX stream_gifter_stream_sender ON stream_gifter (stream_id, sender_id);
CREATE INDEX stream_gifter_rank ON stream_gifter (stream_id, coins, last_event_id)
"""


async def forwards() -> MigrationManager:
    return sql_migration(ID, "streams", DESCRIPTION, DDL)

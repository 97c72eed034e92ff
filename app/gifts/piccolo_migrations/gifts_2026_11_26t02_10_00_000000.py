"""The settlement queue: a gift's diamonds and stream totals are credited in batches.

A send writes one ``gift_credit`` row instead of locking the host's diamond account and the
stream row, which every gift to a popular creator would otherwise wait for. The settler
deletes a batch of credits and posts one transfer per host whose hash covers a digest of
the batch's events, recorded in ``gift_settlement``. The queue is insert-then-delete, so
it gets its own vacuum settings on PostgreSQL. Gifts sent before this migration were
credited by their own operation: each gets a settlement row naming that transfer, with
an empty digest (its operation id ties the transfer to the event instead).
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from app.core.migrations import sql_migration

ID = "2026-11-26T02:10:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Queue gift credits; record settlements"

DDL = """
CREATE TABLE gift_credit (
    id {pk},
    event_id BIGINT NOT NULL REFERENCES gift_event (id),
    host_id BIGINT NOT NULL,
    stream_id BIGINT NOT NULL,
    coins BIGINT NOT NULL,
    quantity INTEGER NOT NULL,
    diamonds BIGINT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX gift_credit_event ON gift_credit (event_id);
CREATE INDEX gift_credit_host ON gift_credit (host_id);
CREATE INDEX gift_credit_stream ON gift_credit (stream_id);

CREATE TABLE gift_settlement (
    id {pk},
    transfer_id BIGINT,
    host_id BIGINT NOT NULL,
    event_ids TEXT NOT NULL,
    diamonds BIGINT NOT NULL,
    digest VARCHAR(64) NOT NULL,
    settled_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX gift_settlement_transfer ON gift_settlement (transfer_id);

INSERT INTO gift_settlement (transfer_id, host_id, event_ids, diamonds, digest, settled_at)
SELECT t.id, e.host_id, '[' || e.id || ']', e.diamonds, '', e.created_at
FROM gift_event e
JOIN ledger_transfer t ON t.operation_id = e.operation_id AND t.kind = 'GIFT_RECEIVED'
"""

POSTGRES_ONLY = (
    "ALTER TABLE gift_credit SET (autovacuum_vacuum_scale_factor = 0, "
    "autovacuum_vacuum_threshold = 5000, autovacuum_vacuum_cost_delay = 0)",
)


async def forwards() -> MigrationManager:
    return sql_migration(ID, "gifts", DESCRIPTION, DDL, postgres_only=POSTGRES_ONLY)

"""The server-side twins of the stream checks and ``record_gift`` (PostgreSQL only).

``streams_live_host`` is the host of a live stream, or STREAM_NOT_LIVE.
``streams_record_gift`` counts a gift in the sender's standing and returns its combo in one
upsert: the combo grows when the sender's previous gift on the stream was the same gift,
at most ``p_window_s`` seconds ago.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from app.core.migrations import sql_migration

ID = "2026-11-26T03:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "streams_live_host, streams_record_gift (PostgreSQL)"

LIVE_HOST = """
CREATE OR REPLACE FUNCTION streams_live_host(p_stream bigint)
RETURNS bigint LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_host bigint;
BEGIN
    SELECT host_id INTO v_host FROM live_stream WHERE id = p_stream AND status = 'LIVE';
    IF NOT FOUND THEN
        PERFORM coins_domain_error('STREAM_NOT_LIVE', 'This stream is not live.', 'streamId');
    END IF;
    RETURN v_host;
END
$$
"""

RECORD_GIFT = """
CREATE OR REPLACE FUNCTION streams_record_gift(
    p_stream bigint, p_sender bigint, p_gift bigint, p_coins bigint, p_now timestamptz,
    p_window_s integer
) RETURNS integer LANGUAGE sql AS $$
    INSERT INTO stream_gifter (stream_id, sender_id, coins, last_gift_id, last_sent_at,
                               combo_count)
    VALUES (p_stream, p_sender, p_coins, p_gift, p_now, 1)
    ON CONFLICT (stream_id, sender_id) DO UPDATE SET
        coins = stream_gifter.coins + excluded.coins,
        combo_count = CASE
            WHEN stream_gifter.last_gift_id = excluded.last_gift_id
             AND excluded.last_sent_at - stream_gifter.last_sent_at
                 <= make_interval(secs => p_window_s)
            THEN stream_gifter.combo_count + 1 ELSE 1 END,
        last_gift_id = excluded.last_gift_id,
        last_sent_at = excluded.last_sent_at
    RETURNING combo_count
$$
"""


async def forwards() -> MigrationManager:
    return sql_migration(ID, "streams", DESCRIPTION, "", postgres_only=(LIVE_HOST, RECORD_GIFT))

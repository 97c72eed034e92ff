"""``streams_live_host`` refuses a stream whose host is frozen (STREAM_NOT_LIVE, streamId).

Freezing a host ends their streams right after the freeze commits (``app.wiring``); until
then, and whatever happens to that step, no gift reaches a frozen host.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from app.core.migrations import sql_migration

ID = "2026-11-26T09:10:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "streams_live_host refuses frozen hosts (PostgreSQL)"

LIVE_HOST = """
CREATE OR REPLACE FUNCTION streams_live_host(p_stream bigint)
RETURNS bigint LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_host bigint;
    v_frozen boolean;
BEGIN
    SELECT s.host_id, u.frozen INTO v_host, v_frozen
      FROM live_stream s JOIN coins_user u ON u.id = s.host_id
     WHERE s.id = p_stream AND s.status = 'LIVE';
    IF NOT FOUND THEN
        PERFORM coins_domain_error('STREAM_NOT_LIVE', 'This stream is not live.', 'streamId');
    END IF;
    IF v_frozen THEN
        PERFORM coins_domain_error('STREAM_NOT_LIVE',
            'This stream has ended: its host''s account is frozen pending review.', 'streamId');
    END IF;
    RETURN v_host;
END
$$
"""


async def forwards() -> MigrationManager:
    return sql_migration(ID, "streams", DESCRIPTION, "", postgres_only=(LIVE_HOST,))

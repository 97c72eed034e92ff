"""``gifts_send``: a whole ``send_gift`` in one statement on PostgreSQL.

It composes the owning packages' functions in the order the Python path checks and
writes: the operation (or its replay), the sender, the stream, the gift, the spend, the
sender's standing and combo, the event, the queued credit, then the coins to the sink
shard, whose lock is the busiest and is held from there to the commit. Called outside a
transaction it commits with the statement: one round trip for a gift.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from app.core.migrations import sql_migration

ID = "2026-11-26T03:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "gifts_send (PostgreSQL)"

SEND = """
CREATE OR REPLACE FUNCTION gifts_send(
    p_sender bigint, p_stream bigint, p_gift bigint, p_quantity integer, p_key text,
    p_request_hash text, p_now timestamptz, p_sink bigint, p_combo_window_s integer,
    p_new_account_days integer, p_new_account_daily_coins bigint
) RETURNS TABLE (
    replayed boolean, event_id bigint, operation_id bigint, gift_version_id bigint,
    host_id bigint, coins bigint, diamonds bigint, combo_count integer,
    sender_created_at timestamptz
) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_event bigint := nextval(pg_get_serial_sequence('gift_event', 'id'));
    v_operation record;
    v_created timestamptz;
    v_host bigint;
    v_gift record;
    v_coins bigint;
    v_diamonds bigint;
    v_combo integer;
BEGIN
    SELECT * INTO v_operation FROM ledger_open_operation(
        'SEND_GIFT', p_sender, p_key, p_request_hash, v_event::text, 1, p_now);
    IF v_operation.replayed THEN
        RETURN QUERY SELECT true, v_operation.replay_ref::bigint, v_operation.operation_id,
            NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint, NULL::integer,
            NULL::timestamptz;
        RETURN;
    END IF;
    v_created := users_require_can_transact(p_sender, (p_now AT TIME ZONE 'UTC')::date);
    v_host := streams_live_host(p_stream);
    IF v_host = p_sender THEN
        PERFORM coins_domain_error('SELF_GIFT', 'You cannot send gifts to yourself.', NULL);
    END IF;
    SELECT v.id, v.name, v.coin_cost, v.diamond_value INTO v_gift
      FROM gift g JOIN gift_version v ON v.id = g.current_version_id
     WHERE g.id = p_gift AND NOT g.retired;
    IF NOT FOUND THEN
        PERFORM coins_domain_error('GIFT_UNAVAILABLE', 'This gift is not available.', 'giftId');
    END IF;
    v_coins := v_gift.coin_cost * p_quantity;
    v_diamonds := v_gift.diamond_value * p_quantity;
    PERFORM spending_record(p_sender, v_coins, p_now, v_created, p_new_account_days,
                            p_new_account_daily_coins);
    v_combo := streams_record_gift(p_stream, p_sender, p_gift, v_coins, p_now, p_combo_window_s);
    INSERT INTO gift_event (id, operation_id, stream_id, gift_id, gift_version_id, sender_id,
                            host_id, quantity, coins, diamonds, combo_count, created_at)
    VALUES (v_event, v_operation.operation_id, p_stream, p_gift, v_gift.id, p_sender, v_host,
            p_quantity, v_coins, v_diamonds, v_combo, p_now);
    INSERT INTO gift_credit (event_id, host_id, stream_id, coins, quantity, diamonds, created_at)
    VALUES (v_event, v_host, p_stream, v_coins, p_quantity, v_diamonds, p_now);
    PERFORM ledger_post_transfer(v_operation.operation_id, 'GIFT_SENT',
        ledger_user_account(p_sender, 'COIN'), p_sink, v_coins,
        v_gift.name || ' x' || p_quantity, p_now, false);
    RETURN QUERY SELECT false, v_event, v_operation.operation_id, v_gift.id, v_host, v_coins,
        v_diamonds, v_combo, v_created;
END
$$
"""


async def forwards() -> MigrationManager:
    return sql_migration(ID, "gifts", DESCRIPTION, "", postgres_only=(SEND,))

"""Gifts apps can render, and limited gifts.

Each gift version gains render data (thumbnail and animation URLs, the animation's kind, a
tier, a category, a sort order) and availability (a kind, a window, the regions it may be
sent from; none: always, everywhere). ``gifts_sendable_version`` is the catalog's rule for
"may this gift be sent now, from here" on PostgreSQL (``app.gifts.details.unavailable_reason``
on SQLite), read from the gift row the send reads anyway; ``gifts_send`` takes the sender's
country and calls it instead of reading the version itself.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from app.core.migrations import sql_migration

ID = "2026-11-26T14:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Gift render data and availability; gifts_send checks availability (PostgreSQL)"

DDL = """
ALTER TABLE gift_version ADD COLUMN thumbnail_url TEXT;
ALTER TABLE gift_version ADD COLUMN animation_url TEXT;
ALTER TABLE gift_version ADD COLUMN animation_kind VARCHAR(8) NOT NULL DEFAULT 'NONE';
ALTER TABLE gift_version ADD COLUMN tier INTEGER NOT NULL DEFAULT 1;
ALTER TABLE gift_version ADD COLUMN category VARCHAR(32);
ALTER TABLE gift_version ADD COLUMN sort_order INTEGER NOT NULL DEFAULT 0;
ALTER TABLE gift_version ADD COLUMN availability_kind VARCHAR(16) NOT NULL DEFAULT 'PERMANENT';
ALTER TABLE gift_version ADD COLUMN available_from TIMESTAMPTZ;
ALTER TABLE gift_version ADD COLUMN available_until TIMESTAMPTZ;
ALTER TABLE gift_version ADD COLUMN regions TEXT NOT NULL DEFAULT ''
"""

SENDABLE = """
CREATE OR REPLACE FUNCTION gifts_sendable_version(p_gift bigint, p_now timestamptz,
                                                  p_country text)
RETURNS gift_version LANGUAGE plpgsql STABLE AS $$
DECLARE
    v gift_version;
BEGIN
    SELECT gv.* INTO v FROM gift g JOIN gift_version gv ON gv.id = g.current_version_id
     WHERE g.id = p_gift AND NOT g.retired;
    IF NOT FOUND THEN
        PERFORM coins_domain_error('GIFT_UNAVAILABLE', 'This gift is not available.', 'giftId');
    END IF;
    IF v.available_from IS NOT NULL AND p_now < v.available_from THEN
        PERFORM coins_domain_error('GIFT_UNAVAILABLE', 'This gift is not available yet.',
                                   'giftId');
    END IF;
    IF v.available_until IS NOT NULL AND p_now >= v.available_until THEN
        PERFORM coins_domain_error('GIFT_UNAVAILABLE', 'This gift is no longer available.',
                                   'giftId');
    END IF;
    IF v.regions <> '' AND (p_country IS NULL
            OR position(',' || p_country || ',' IN ',' || v.regions || ',') = 0) THEN
        PERFORM coins_domain_error('GIFT_UNAVAILABLE',
                                   'This gift is not available in your country.', 'country');
    END IF;
    RETURN v;
END
$$
"""

DROP_SEND = (
    "DROP FUNCTION gifts_send(bigint, bigint, bigint, integer, text, text, timestamptz, "
    "bigint, integer, integer, bigint)"
)

SEND = """
CREATE FUNCTION gifts_send(
    p_sender bigint, p_stream bigint, p_gift bigint, p_quantity integer, p_key text,
    p_request_hash text, p_now timestamptz, p_sink bigint, p_combo_window_s integer,
    p_new_account_days integer, p_new_account_daily_coins bigint,
    p_country text
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
    v_gift := gifts_sendable_version(p_gift, p_now, p_country);
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
    return sql_migration(ID, "gifts", DESCRIPTION, DDL, postgres_only=(SENDABLE, DROP_SEND, SEND))

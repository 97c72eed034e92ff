"""``spending_record``: the server-side twin of ``app.spending.service.record_spend``.

PostgreSQL only. Same steps and messages: count the coins on today's row (its row lock
serializes one user's spends), refuse a young account over the platform's daily coins,
then refuse anything over the user's own daily, weekly or monthly limit (a raise waiting
in ``pending_*`` applies once ``pending_applies_at`` has passed). Days are UTC; weeks are
ISO weeks from Monday.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from app.core.migrations import sql_migration

ID = "2026-11-26T03:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "spending_record (PostgreSQL)"

RECORD = """
CREATE OR REPLACE FUNCTION spending_record(
    p_user bigint, p_coins bigint, p_now timestamptz, p_account_created_at timestamptz,
    p_new_account_days integer, p_new_account_daily_coins bigint
) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_today date := (p_now AT TIME ZONE 'UTC')::date;
    v_week date;
    v_month date;
    v_spent bigint;
    v_limits record;
    v_daily bigint;
    v_weekly bigint;
    v_monthly bigint;
    v_totals record;
BEGIN
    INSERT INTO spending_day (user_id, day, coins) VALUES (p_user, v_today, p_coins)
    ON CONFLICT (user_id, day) DO UPDATE SET coins = spending_day.coins + excluded.coins
    RETURNING coins INTO v_spent;
    IF p_now - p_account_created_at < make_interval(days => p_new_account_days)
       AND v_spent > p_new_account_daily_coins THEN
        PERFORM coins_domain_error('SPENDING_LIMIT_REACHED', format(
            'New accounts may spend at most %s coins a day in their first week.',
            p_new_account_daily_coins), NULL);
    END IF;
    SELECT * INTO v_limits FROM spending_limit WHERE user_id = p_user;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF v_limits.pending_applies_at IS NOT NULL AND v_limits.pending_applies_at <= p_now THEN
        v_daily := v_limits.pending_daily;
        v_weekly := v_limits.pending_weekly;
        v_monthly := v_limits.pending_monthly;
    ELSE
        v_daily := v_limits.daily;
        v_weekly := v_limits.weekly;
        v_monthly := v_limits.monthly;
    END IF;
    IF v_daily IS NULL AND v_weekly IS NULL AND v_monthly IS NULL THEN
        RETURN;
    END IF;
    v_week := v_today - (extract(isodow FROM v_today)::integer - 1);
    v_month := date_trunc('month', v_today)::date;
    SELECT COALESCE(SUM(coins) FILTER (WHERE day = v_today), 0) AS today,
           COALESCE(SUM(coins) FILTER (WHERE day >= v_week), 0) AS week,
           COALESCE(SUM(coins) FILTER (WHERE day >= v_month), 0) AS month
      INTO v_totals
      FROM spending_day
     WHERE user_id = p_user AND day >= LEAST(v_week, v_month) AND day <= v_today;
    IF v_daily IS NOT NULL AND v_totals.today > v_daily THEN
        PERFORM coins_domain_error('SPENDING_LIMIT_REACHED', format(
            'This would go over your daily spending limit of %s coins.', v_daily), NULL);
    END IF;
    IF v_weekly IS NOT NULL AND v_totals.week > v_weekly THEN
        PERFORM coins_domain_error('SPENDING_LIMIT_REACHED', format(
            'This would go over your weekly spending limit of %s coins.', v_weekly), NULL);
    END IF;
    IF v_monthly IS NOT NULL AND v_totals.month > v_monthly THEN
        PERFORM coins_domain_error('SPENDING_LIMIT_REACHED', format(
            'This would go over your monthly spending limit of %s coins.', v_monthly), NULL);
    END IF;
END
$$
"""


async def forwards() -> MigrationManager:
    return sql_migration(ID, "spending", DESCRIPTION, "", postgres_only=(RECORD,))

"""``users_require_can_transact``: the server-side twin of ``require_can_transact``.

PostgreSQL only. Same checks, same order, same messages: the user exists, is 18 or older
on ``p_today`` (UTC), is not frozen. Returns when the account was opened.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from app.core.migrations import sql_migration

ID = "2026-11-26T03:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "users_require_can_transact (PostgreSQL)"

REQUIRE_CAN_TRANSACT = """
CREATE OR REPLACE FUNCTION users_require_can_transact(p_user bigint, p_today date)
RETURNS timestamptz LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_user record;
    v_age integer;
BEGIN
    SELECT birth_date, frozen, created_at INTO v_user FROM coins_user WHERE id = p_user;
    IF NOT FOUND THEN
        PERFORM coins_domain_error('NOT_FOUND', 'No such user.', NULL);
    END IF;
    v_age := extract(year FROM p_today)::integer - extract(year FROM v_user.birth_date)::integer
        - CASE WHEN (extract(month FROM p_today), extract(day FROM p_today))
                    >= (extract(month FROM v_user.birth_date), extract(day FROM v_user.birth_date))
               THEN 0 ELSE 1 END;
    IF v_age < 18 THEN
        PERFORM coins_domain_error('AGE_RESTRICTED', 'You must be 18 or older to do this.', NULL);
    END IF;
    IF v_user.frozen THEN
        PERFORM coins_domain_error('ACCOUNT_FROZEN',
            'This account is frozen pending review; contact support.', NULL);
    END IF;
    RETURN v_user.created_at;
END
$$
"""


async def forwards() -> MigrationManager:
    return sql_migration(ID, "users", DESCRIPTION, "", postgres_only=(REQUIRE_CAN_TRANSACT,))

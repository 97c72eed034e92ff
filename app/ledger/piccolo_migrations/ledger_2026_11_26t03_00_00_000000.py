"""The ledger's server-side twin of ``run_operation``, for one-statement operations.

PostgreSQL only (SQLite, one writer, keeps the plain path). Each function keeps the
guarantees in ``app/ledger/service.py``: an operation is claimed or its first result
replayed by its idempotency key; a debit is an UPDATE conditional on the balance covering
it; the two accounts are locked in ascending id order; the transfer extends both chains
with the same hash ``app.ledger.chain.transfer_hash`` computes. ``coins_domain_error``
raises what Python turns into a ``DomainError`` (SQLSTATE CN001: message, code in DETAIL,
field in HINT).
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from app.core.migrations import sql_migration

ID = "2026-11-26T03:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Ledger functions for one-statement operations (PostgreSQL)"

DOMAIN_ERROR = """
CREATE OR REPLACE FUNCTION coins_domain_error(p_code text, p_message text, p_field text)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'CN001', MESSAGE = p_message, DETAIL = p_code,
        HINT = COALESCE(p_field, '');
END
$$
"""

TRANSFER_HASH = """
CREATE OR REPLACE FUNCTION ledger_transfer_hash(
    p_prev_debit text, p_prev_credit text, p_operation bigint, p_kind text, p_debit bigint,
    p_credit bigint, p_amount bigint, p_at timestamptz, p_detail text
) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT encode(sha256(convert_to(concat_ws('|',
        p_prev_debit, p_prev_credit, p_operation::text, p_kind, p_debit::text, p_credit::text,
        p_amount::text,
        to_char(p_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') || '+00:00',
        NULLIF(p_detail, '')), 'UTF8')), 'hex')
$$
"""

OPEN_OPERATION = """
CREATE OR REPLACE FUNCTION ledger_open_operation(
    p_kind text, p_user bigint, p_key text, p_request_hash text, p_result_ref text,
    p_transfer_count integer, p_now timestamptz,
    OUT operation_id bigint, OUT replayed boolean, OUT replay_ref text
) LANGUAGE plpgsql AS $$
DECLARE
    v_hash text;
BEGIN
    INSERT INTO ledger_operation (kind, user_id, idempotency_key, request_hash, result_ref,
                                  transfer_count, created_at)
    VALUES (p_kind, p_user, p_key, p_request_hash, p_result_ref, p_transfer_count, p_now)
    ON CONFLICT (user_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
    RETURNING id INTO operation_id;
    replayed := operation_id IS NULL;
    IF replayed THEN
        SELECT o.id, o.request_hash, o.result_ref INTO operation_id, v_hash, replay_ref
        FROM ledger_operation o WHERE o.user_id = p_user AND o.idempotency_key = p_key;
        IF v_hash IS DISTINCT FROM p_request_hash THEN
            PERFORM coins_domain_error('IDEMPOTENCY_KEY_REUSED',
                'This idempotency key was already used for a different request.',
                'idempotencyKey');
        END IF;
    END IF;
END
$$
"""

USER_ACCOUNT = """
CREATE OR REPLACE FUNCTION ledger_user_account(p_user bigint, p_currency text)
RETURNS bigint LANGUAGE sql STABLE AS $$
    SELECT id FROM ledger_account WHERE user_id = p_user AND currency = p_currency
$$
"""

POST_TRANSFER = """
CREATE OR REPLACE FUNCTION ledger_post_transfer(
    p_operation bigint, p_kind text, p_debit bigint, p_credit bigint, p_amount bigint,
    p_description text, p_now timestamptz, p_may_overdraw boolean,
    OUT transfer_id bigint, OUT debit_balance bigint, OUT credit_balance bigint
) LANGUAGE plpgsql AS $$
DECLARE
    v_debit record;
    v_credit record;
    v_hash text;
BEGIN
    IF p_amount <= 0 OR p_debit = p_credit THEN
        RAISE EXCEPTION 'a transfer moves a positive amount between two accounts';
    END IF;
    -- Ascending id order, as every operation locks.
    IF p_debit < p_credit THEN
        SELECT currency, head_hash INTO v_debit FROM ledger_account
            WHERE id = p_debit FOR UPDATE;
        SELECT currency, head_hash INTO v_credit FROM ledger_account
            WHERE id = p_credit FOR UPDATE;
    ELSE
        SELECT currency, head_hash INTO v_credit FROM ledger_account
            WHERE id = p_credit FOR UPDATE;
        SELECT currency, head_hash INTO v_debit FROM ledger_account
            WHERE id = p_debit FOR UPDATE;
    END IF;
    IF v_debit.currency IS NULL OR v_debit.currency IS DISTINCT FROM v_credit.currency THEN
        RAISE EXCEPTION 'a transfer moves one currency between two existing accounts';
    END IF;
    v_hash := ledger_transfer_hash(v_debit.head_hash, v_credit.head_hash, p_operation, p_kind,
                                   p_debit, p_credit, p_amount, p_now, '');
    UPDATE ledger_account SET balance = balance - p_amount, head_hash = v_hash
        WHERE id = p_debit AND (balance >= p_amount OR may_go_negative OR p_may_overdraw)
        RETURNING balance INTO debit_balance;
    IF NOT FOUND THEN
        PERFORM coins_domain_error('INSUFFICIENT_FUNDS', 'Not enough balance for this.', NULL);
    END IF;
    UPDATE ledger_account SET balance = balance + p_amount, head_hash = v_hash
        WHERE id = p_credit RETURNING balance INTO credit_balance;
    INSERT INTO ledger_transfer (operation_id, kind, debit_account_id, credit_account_id,
        amount, debit_balance_after, credit_balance_after, description, created_at, hash, detail)
    VALUES (p_operation, p_kind, p_debit, p_credit, p_amount, debit_balance, credit_balance,
        p_description, p_now, v_hash, '')
    RETURNING id INTO transfer_id;
END
$$
"""


async def forwards() -> MigrationManager:
    return sql_migration(
        ID,
        "ledger",
        DESCRIPTION,
        "",
        postgres_only=(DOMAIN_ERROR, TRANSFER_HASH, OPEN_OPERATION, USER_ACCOUNT, POST_TRANSFER),
    )

"""The ledger: accounts, operations and append-only transfers; the only writer of balances.

Other packages use what this module exports: ``run_operation`` to move value, the account
helpers, and the reads. ``verify`` re-derives everything and is imported on its own.
"""

from app.ledger.accounts import (
    ensure_system_accounts,
    open_user_accounts,
    system_account_id,
    system_account_ids,
    user_account_id,
    user_account_ids,
)
from app.ledger.codes import AccountCode, Currency, TransferKind
from app.ledger.reads import (
    Entry,
    History,
    account_balance,
    account_history,
    daily_totals,
    debited_after,
    list_entries,
    system_balance,
    transfers_of_kind,
    user_balances,
)
from app.ledger.service import (
    Leg,
    OpenOperation,
    Outcome,
    Plan,
    PostedTransfer,
    request_fingerprint,
    run_operation,
    transfer,
    transfers_of,
    validate_idempotency_key,
)

__all__ = [
    "AccountCode",
    "Currency",
    "Entry",
    "History",
    "Leg",
    "OpenOperation",
    "Outcome",
    "Plan",
    "PostedTransfer",
    "TransferKind",
    "account_balance",
    "account_history",
    "daily_totals",
    "debited_after",
    "ensure_system_accounts",
    "list_entries",
    "open_user_accounts",
    "request_fingerprint",
    "run_operation",
    "system_account_id",
    "system_account_ids",
    "system_balance",
    "transfer",
    "transfers_of",
    "transfers_of_kind",
    "user_account_id",
    "user_account_ids",
    "user_balances",
    "validate_idempotency_key",
]

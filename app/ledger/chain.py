"""The hash chain that makes the ledger tamper-evident.

Each transfer's hash covers its own fields and the previous hash of *both* accounts it
touches, so every account carries its own chain (its ``head_hash``). There is no single
global chain head to contend on: two gifts to different creators only meet on the system
accounts they already lock. Editing, deleting or inserting a transfer breaks the chain of
the accounts involved, which ``coins ledger verify`` reports.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from app.core.clock import as_utc

GENESIS = ""


def transfer_hash(
    *,
    prev_debit_hash: str,
    prev_credit_hash: str,
    operation_id: int,
    kind: str,
    debit_account_id: int,
    credit_account_id: int,
    amount: int,
    created_at: datetime,
    detail: str = "",
) -> str:
    """SHA-256 over the fields, ``|``-separated; ``detail`` (a digest of what a batched
    transfer settles) is appended only when there is one, so plain transfers' hashes are as
    they always were. PostgreSQL computes the same bytes in ``ledger_post_transfer``."""
    fields = [
        prev_debit_hash,
        prev_credit_hash,
        str(operation_id),
        kind,
        str(debit_account_id),
        str(credit_account_id),
        str(amount),
        as_utc(created_at).isoformat(timespec="microseconds"),
    ]
    if detail:
        fields.append(detail)
    return hashlib.sha256("|".join(fields).encode()).hexdigest()

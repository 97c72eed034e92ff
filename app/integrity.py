"""Everything ``coins ledger verify`` checks: the ledger itself, then each domain against it.

The ledger cannot read the domains above it, so the checks that reconcile a domain's rows
with the ledger's balances live with the domain and are gathered here.
"""

from __future__ import annotations

from app.gifts.settlement import reconcile as gifts_settled
from app.ledger.verify import Report, verify_ledger
from app.payouts.reconcile import holds_match_ledger
from app.purchases.refunds import dispute_hold_matches_ledger

RECONCILERS = (gifts_settled, holds_match_ledger, dispute_hold_matches_ledger)


async def verify_all() -> Report:
    return await verify_ledger(reconcilers=RECONCILERS)

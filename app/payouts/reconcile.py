"""Payouts against the ledger: what PAYOUT_HOLD holds is what open payouts hold."""

from __future__ import annotations

from app.ledger import AccountCode
from app.ledger.verify import Balances, Breach
from app.payouts.queries import held_total


async def holds_match_ledger(balances: Balances) -> list[Breach]:
    """The PAYOUT_HOLD balance equals the diamonds of every PENDING or APPROVED payout."""
    in_ledger = balances.system(AccountCode.PAYOUT_HOLD)
    in_payouts = await held_total()
    if in_ledger == in_payouts:
        return []
    return [
        Breach(
            "payout-hold",
            f"PAYOUT_HOLD holds {in_ledger} diamonds but open payouts hold {in_payouts}",
        )
    ]

"""Which buyers have contested purchases: money taken back by a refund or a chargeback.

Auto-approval asks before it pays a creator whose gifts came from these buyers
(``app.fraud.tracing.creator_cleared``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from app.purchases.codes import PurchaseStatus
from app.purchases.tables import Purchase

# Statuses of a purchase whose money the buyer took back or is contesting. A dispute that
# is still open (coins held, not yet lost or won) belongs here too once it has a status.
CONTESTED_STATUSES = frozenset({PurchaseStatus.REFUNDED})


async def buyers_with_contested_purchases(user_ids: Sequence[int], since: datetime) -> set[int]:
    """Which of these users had a purchase refunded or charged back since ``since``."""
    if not user_ids:
        return set()
    rows = (
        await Purchase.select(Purchase.user_id)
        .where(
            Purchase.user_id.is_in(sorted(set(user_ids)))
            & Purchase.status.is_in(sorted(s.value for s in CONTESTED_STATUSES))
            & (Purchase.refunded_at >= since)
        )
        .distinct()
    )
    return {row["user_id"] for row in rows}

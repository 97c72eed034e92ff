"""Which buyers have contested purchases: money taken back by a refund or a chargeback.

Auto-approval asks before it pays a creator whose gifts came from these buyers
(``app.fraud.tracing.creator_cleared``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from app.purchases.codes import DisputeStatus
from app.purchases.refunds import buyers_with_disputes
from app.purchases.tables import Dispute, Purchase


async def buyers_with_contested_purchases(user_ids: Sequence[int], since: datetime) -> set[int]:
    """Which of these users took money back since ``since`` (a refund, whole or partial,
    or a lost chargeback) or are contesting a payment now (an open dispute)."""
    if not user_ids:
        return set()
    users = sorted(set(user_ids))
    refunded = (
        await Purchase.select(Purchase.user_id)
        .where(
            Purchase.user_id.is_in(users)
            & (Purchase.refunded_minor > 0)
            & (Purchase.refunded_at >= since)
        )
        .distinct()
    )
    disputed = await buyers_with_disputes(
        users,
        (Dispute.status == DisputeStatus.OPEN.value)
        | ((Dispute.status == DisputeStatus.LOST.value) & (Dispute.closed_at >= since)),
    )
    return {row["user_id"] for row in refunded} | disputed

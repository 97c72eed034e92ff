"""Where a payout stands. PENDING and APPROVED hold diamonds; the other three are final."""

from __future__ import annotations

import enum


class PayoutStatus(enum.StrEnum):
    PENDING = "PENDING"
    APPROVED = "APPROVED"
    PAID = "PAID"
    REJECTED = "REJECTED"
    CANCELLED = "CANCELLED"


# Statuses whose diamonds sit on the payout-hold account.
HELD_STATUSES = frozenset({PayoutStatus.PENDING, PayoutStatus.APPROVED})
# Statuses that count towards the creator's daily cap (everything not given back).
CAPPED_STATUSES = frozenset({PayoutStatus.PENDING, PayoutStatus.APPROVED, PayoutStatus.PAID})

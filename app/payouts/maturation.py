"""Maturing earnings: diamonds from a gift can be paid out only once the gift is old enough.

A card chargeback or an App Store refund can arrive weeks after the coins behind a gift
were bought. Until ``EconomySettings.earnings_maturation_days`` have passed since a gift,
its diamonds are *maturing*: they show in the creator's earnings but cannot be requested,
and a refund of the coins behind them reverses them (``app.fraud.tracing``).

Computed, not stored: the diamonds of gifts received in the window, summed over the
``gift_event (host_id, created_at)`` index, capped by what the creator actually holds
(``maturing = min(received in window, balance)``, ``available = balance - maturing``).
The cap keeps the two honest when gifts of the window were reversed (the balance already
dropped by them); the price of not reading reversals here is that a reversed recent gift
still counts as maturing until its window passes, which only ever delays a payout.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from app.core.clock import utcnow
from app.gifts import queries as gift_events


@dataclass(frozen=True, slots=True)
class Maturing:
    """A creator's diamonds received within the window, and when the oldest of them matures."""

    received: int
    next_maturity_at: datetime | None

    def of(self, balance: int) -> int:
        """The maturing part of ``balance`` (never more than it, never negative)."""
        return max(0, min(self.received, balance))


NOTHING = Maturing(0, None)


def window_start(maturation_days: int, now: datetime | None = None) -> datetime:
    """Gifts sent after this are still maturing."""
    return (now or utcnow()) - timedelta(days=maturation_days)


async def maturing(host_ids: Sequence[int], maturation_days: int) -> Mapping[int, Maturing]:
    """Each creator's maturing earnings (one statement for all of them)."""
    if maturation_days <= 0:
        return dict.fromkeys(host_ids, NOTHING)
    window = timedelta(days=maturation_days)
    received = await gift_events.received_since(host_ids, window_start(maturation_days))
    return {
        host_id: Maturing(got.diamonds, got.oldest_at + window if got.oldest_at else None)
        for host_id, got in received.items()
    }

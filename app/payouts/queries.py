"""Reading payouts: one payout, lists and queues, what creators hold, totals by status."""

from __future__ import annotations

from collections.abc import Sequence

from piccolo.query.functions.aggregate import Count, Max, Sum

from app.core.errors import DomainError, ErrorCode
from app.payouts.codes import HELD_STATUSES, PayoutStatus
from app.payouts.records import PayoutRecord, payout_record
from app.payouts.tables import Payout


async def get_payout(payout_id: int) -> PayoutRecord:
    row = await Payout.select().where(Payout.id == payout_id).first()
    if row is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such payout.", "payoutId")
    return payout_record(row)


async def list_payouts(
    *,
    status: PayoutStatus | None = None,
    creator_id: int | None = None,
    limit: int = 50,
    after: int | None = None,
    oldest_first: bool = False,
) -> list[PayoutRecord]:
    """Payouts newest first (or oldest first, for a review queue), after payout id ``after``."""
    query = Payout.select()
    if status is not None:
        query = query.where(Payout.status == status.value)
    if creator_id is not None:
        query = query.where(Payout.creator_id == creator_id)
    if after is not None:
        query = query.where(Payout.id > after if oldest_first else Payout.id < after)
    rows = await query.order_by(Payout.id, ascending=oldest_first).limit(limit)
    return [payout_record(row) for row in rows]


async def held_diamonds(creator_ids: Sequence[int]) -> dict[int, int]:
    """Diamonds each creator has on the payout-hold account (PENDING and APPROVED payouts)."""
    if not creator_ids:
        return {}
    rows = (
        await Payout.select(Payout.creator_id, Sum(Payout.diamonds).as_alias("held"))
        .where(Payout.creator_id.is_in(list(set(creator_ids))))
        .where(Payout.status.is_in(sorted(s.value for s in HELD_STATUSES)))
        .group_by(Payout.creator_id)
    )
    found = dict.fromkeys(creator_ids, 0)
    for row in rows:
        found[row["creator_id"]] = int(row["held"])
    return found


async def held_total() -> int:
    """Diamonds of every payout still holding (PENDING or APPROVED): what PAYOUT_HOLD owes."""
    row = (
        await Payout.select(Sum(Payout.diamonds).as_alias("held"))
        .where(Payout.status.is_in(sorted(s.value for s in HELD_STATUSES)))
        .first()
    )
    return int(row["held"] or 0) if row else 0


async def newest_pending_by_creator() -> dict[int, int]:
    """Each creator with a PENDING payout, and the id of their newest one."""
    rows = (
        await Payout.select(Payout.creator_id, Max(Payout.id).as_alias("payout_id"))
        .where(Payout.status == PayoutStatus.PENDING.value)
        .group_by(Payout.creator_id)
        .order_by(Payout.creator_id)
    )
    return {row["creator_id"]: row["payout_id"] for row in rows}


async def totals_by_status() -> dict[PayoutStatus, tuple[int, int]]:
    """(payouts, diamonds) per status, for the dashboard."""
    rows = await Payout.select(
        Payout.status, Count(alias="payouts"), Sum(Payout.diamonds).as_alias("diamonds")
    ).group_by(Payout.status)
    found = dict.fromkeys(PayoutStatus, (0, 0))
    for row in rows:
        found[PayoutStatus(row["status"])] = (int(row["payouts"]), int(row["diamonds"]))
    return found

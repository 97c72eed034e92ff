"""Review holds: while a moderator holds a creator's payouts, no payout of theirs is approved.

Fraud review puts and lifts holds (``app.fraud.review.hold_from_flag``); approval checks
them. The table belongs here because it is a rule about payouts.
"""

from __future__ import annotations

from collections.abc import Sequence

from app.audit import service as audit
from app.audit.service import Actor
from app.core.clock import utcnow
from app.core.errors import invalid_input
from app.core.transactions import in_transaction
from app.payouts.tables import PayoutReviewHold

MAX_REASON_LENGTH = 2_000


async def payouts_held(creator_id: int) -> bool:
    return await PayoutReviewHold.exists().where(PayoutReviewHold.creator_id == creator_id)


async def held_creator_ids(creator_ids: Sequence[int]) -> set[int]:
    if not creator_ids:
        return set()
    rows = await PayoutReviewHold.select(PayoutReviewHold.creator_id).where(
        PayoutReviewHold.creator_id.is_in(list(set(creator_ids)))
    )
    return {row["creator_id"] for row in rows}


async def set_payouts_held(creator_id: int, *, held: bool, actor: Actor, reason: str) -> bool:
    """Hold (no payout of theirs can be approved) or release a creator's payouts; audited.

    Returns whether anything changed."""
    reason = reason.strip()
    if not reason or len(reason) > MAX_REASON_LENGTH:
        raise invalid_input(f"Give a reason of 1 to {MAX_REASON_LENGTH} characters.", "reason")

    async def work() -> bool:
        if held:
            rows = await PayoutReviewHold.raw(
                "INSERT INTO payout_review_hold (creator_id, held_by, reason, created_at) "
                "VALUES ({}, {}, {}, {}) ON CONFLICT DO NOTHING RETURNING id",
                creator_id,
                actor.handle,
                reason,
                utcnow(),
            )
        else:
            rows = (
                await PayoutReviewHold.delete()
                .where(PayoutReviewHold.creator_id == creator_id)
                .returning(PayoutReviewHold.id)
            )
        if not rows:
            return False
        await audit.record(
            actor,
            "payouts.hold" if held else "payouts.release",
            target_type="user",
            target_id=creator_id,
            before={"payouts_held": not held},
            after={"payouts_held": held},
            reason=reason,
        )
        return True

    return await in_transaction(work)

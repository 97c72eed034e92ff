"""Setting a stream's goal: here, not in ``app.streams``, because a gift goal names a gift
of the catalog (which this package owns and streams must not import)."""

from __future__ import annotations

from app.core.errors import DomainError, ErrorCode
from app.gifts import catalog
from app.streams import goals as stream_goals
from app.streams.goals import GoalKind, GoalRecord


async def set_stream_goal(
    host_id: int,
    stream_id: int,
    *,
    gift_id: int | None = None,
    count: int | None = None,
    coins: int | None = None,
    title: str | None = None,
) -> GoalRecord:
    """Give the host's live stream a new goal (replacing its goal), counting from now."""
    kind, target, title = stream_goals.validate_goal(
        gift_id=gift_id, count=count, coins=coins, title=title
    )
    if kind is GoalKind.GIFT:
        assert gift_id is not None
        gift = (await catalog.gifts_by_ids([gift_id])).get(gift_id)
        if gift is None or gift.retired:
            raise DomainError(ErrorCode.GIFT_UNAVAILABLE, "This gift is not available.", "giftId")
    return await stream_goals.set_goal(
        host_id, stream_id, kind=kind, gift_id=gift_id, target=target, title=title
    )


async def clear_stream_goal(host_id: int, stream_id: int) -> None:
    await stream_goals.clear_goal(host_id, stream_id)

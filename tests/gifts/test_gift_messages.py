"""Gift messages as a service: validated, stored with the gift, in its idempotency, hidden
by the host, and evidence when the gift is reported."""

from __future__ import annotations

import pytest

from app.core.errors import DomainError, ErrorCode
from app.fraud import review
from app.fraud import service as fraud
from app.gifts import messages
from app.gifts.queries import get_event, recent_events
from app.gifts.tables import GiftEvent, GiftMessage
from app.ledger.tables import Transfer
from tests.factories import coins_of, make_gift, make_stream, make_user, send, staff


async def test_a_message_is_trimmed_stored_with_the_gift_and_replayed(db) -> None:
    viewer = await make_user(coins=10)
    stream = await make_stream()
    rose = await make_gift("rose")

    sent = await send(viewer, stream, rose, key="k1", message="  Happy birthday! 🎂 ")
    assert sent.event.message == "Happy birthday! 🎂"
    assert (await get_event(sent.event.id)).message == "Happy birthday! 🎂"
    again = await send(viewer, stream, rose, key="k1", message="Happy birthday! 🎂")
    assert (again.replayed, again.event.id, again.event.message) == (
        True,
        sent.event.id,
        "Happy birthday! 🎂",
    )
    plain = await send(viewer, stream, rose, message="   ")  # only spaces: no message
    assert plain.event.message is None
    assert await GiftMessage.count() == 1
    assert await coins_of(viewer.id) == 8


async def test_same_key_with_another_message_is_refused(db) -> None:
    viewer = await make_user(coins=10)
    stream = await make_stream()
    rose = await make_gift("rose")
    await send(viewer, stream, rose, key="k1", message="hi")
    for other in ("hello", None):
        with pytest.raises(DomainError) as refused:
            await send(viewer, stream, rose, key="k1", message=other)
        assert refused.value.code == ErrorCode.IDEMPOTENCY_KEY_REUSED
    await send(viewer, stream, rose, key="k2")
    with pytest.raises(DomainError) as refused:
        await send(viewer, stream, rose, key="k2", message="now with words")
    assert refused.value.code == ErrorCode.IDEMPOTENCY_KEY_REUSED
    assert (await GiftEvent.count(), await GiftMessage.count()) == (2, 1)


@pytest.mark.parametrize(
    "message", ["x" * 151, "nul\x00byte", "two\nlines", "bell\x07", "esc\x1b[31m"]
)
async def test_long_or_control_character_messages_are_refused(db, message: str) -> None:
    viewer = await make_user(coins=10)
    stream = await make_stream()
    rose = await make_gift("rose")
    transfers = await Transfer.count()
    with pytest.raises(DomainError) as refused:
        await send(viewer, stream, rose, message=message)
    assert (refused.value.code, refused.value.field) == (ErrorCode.INVALID_INPUT, "message")
    assert (await GiftEvent.count(), await Transfer.count()) == (0, transfers)
    assert await coins_of(viewer.id) == 10


async def test_150_characters_after_trimming_are_accepted(db) -> None:
    viewer = await make_user(coins=10)
    stream = await make_stream()
    rose = await make_gift("rose")
    sent = await send(viewer, stream, rose, message=f"  {'é' * 150}\t ")
    assert sent.event.message == "é" * 150


async def test_the_host_hides_a_message_everywhere_but_in_moderation(db) -> None:
    viewer, host, stranger = await make_user(coins=10), await make_user(), await make_user()
    stream = await make_stream(host)
    rose = await make_gift("rose")
    sent = await send(viewer, stream, rose, message="rude words")
    plain = await send(viewer, stream, rose)

    for who in (stranger.id, viewer.id):
        with pytest.raises(DomainError) as refused:
            await messages.hide_message(sent.event.id, host_id=who)
        assert refused.value.code == ErrorCode.FORBIDDEN
    with pytest.raises(DomainError) as refused:
        await messages.hide_message(plain.event.id, host_id=host.id)
    assert (refused.value.code, refused.value.field) == (ErrorCode.NOT_FOUND, "giftEventId")

    await messages.hide_message(sent.event.id, host_id=host.id)
    await messages.hide_message(sent.event.id, host_id=host.id)  # again: no-op
    assert (await get_event(sent.event.id)).message is None
    assert [e.message for e in (await recent_events([stream.id], 5))[stream.id]] == [None, None]
    assert await messages.visible_messages([sent.event.id]) == {}
    kept = await messages.message_of(sent.event.id)
    assert kept is not None
    assert (kept.message, kept.hidden_by) == ("rude words", f"user:{host.id}")

    assert await review.report_gift(host.id, sent.event.id, "abusive message")
    [flag] = (await fraud.page_of_flags(status=None, rule=None, limit=5)).items
    assert flag.evidence["message"] == "rude words"
    assert flag.evidence["message_hidden"] is True
    assert flag.evidence["reason"] == "abusive message"


async def test_staff_hide_a_message_with_an_audit_entry(db) -> None:
    from app.audit import service as audit

    viewer = await make_user(coins=10)
    stream = await make_stream()
    rose = await make_gift("rose")
    sent = await send(viewer, stream, rose, message="spam spam")
    await messages.hide_message_as_staff(
        sent.event.id, actor=staff("mona", "MODERATOR"), reason="spam"
    )
    assert (await get_event(sent.event.id)).message is None
    [entry] = await audit.list_entries(limit=5, target_type="gift_event")
    assert (entry.action, entry.actor, entry.reason) == ("gift.hide_message", "mona", "spam")


async def test_a_report_of_a_gift_with_a_visible_message_carries_it(db) -> None:
    viewer, host = await make_user(coins=10), await make_user()
    stream = await make_stream(host)
    rose = await make_gift("rose")
    sent = await send(viewer, stream, rose, message="<b>buy followers</b> at spam.example")
    plain = await send(viewer, stream, rose)
    await review.report_gift(host.id, sent.event.id, "spam")
    await review.report_gift(host.id, plain.event.id, "just because")
    page = await fraud.page_of_flags(status=None, rule=None, limit=5)
    flags = {flag.evidence["gift_event_id"]: flag for flag in page.items}
    assert flags[sent.event.id].evidence["message"] == "<b>buy followers</b> at spam.example"
    assert flags[sent.event.id].evidence["message_hidden"] is False
    assert "message" not in flags[plain.event.id].evidence

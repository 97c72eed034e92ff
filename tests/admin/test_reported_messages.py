"""A reported gift's message in the fraud queue: shown as evidence, escaped, and hideable."""

from __future__ import annotations

from litestar.testing import AsyncTestClient

from app.audit.tables import AuditEntry
from app.fraud import review
from app.fraud import service as fraud
from app.gifts import messages
from tests.admin.helpers import make_staff, post_form, sign_in
from tests.factories import make_gift, make_stream, make_user, send


async def reported(message: str | None) -> tuple[int, int]:
    sender, host = await make_user("sender.sid", coins=10), await make_user("host.hana")
    stream = await make_stream(host)
    event = (await send(sender, stream, await make_gift("rose"), message=message)).event
    await review.report_gift(host.id, event.id, "abusive")
    [flag] = await fraud.list_flags()
    return flag.id, event.id


async def test_the_flag_shows_the_message_escaped_and_staff_hide_it(
    client: AsyncTestClient,
) -> None:
    flag_id, event_id = await reported("<script>alert('x')</script> buy followers")
    await make_staff("mod", "MODERATOR")
    await sign_in(client, "mod")
    page = f"/admin/fraud/{flag_id}"

    shown = await client.get(page)
    assert shown.status_code == 200
    assert "&lt;script&gt;alert(" in shown.text
    assert "<script>alert(" not in shown.text
    assert "Visible to viewers." in shown.text

    no_reason = await post_form(client, f"{page}/hide-message", page, {"reason": " "})
    assert no_reason.status_code == 400
    assert "Say why" in no_reason.text
    done = await post_form(client, f"{page}/hide-message", page, {"reason": "spam"})
    assert done.status_code == 303
    assert await messages.visible_messages([event_id]) == {}
    after = await client.get(page)
    assert "Hidden by staff:mod" in after.text
    assert "buy followers" in after.text  # moderators still read it
    assert {row["action"] for row in await AuditEntry.select()} >= {"gift.hide_message"}


async def test_a_flag_without_a_message_has_nothing_to_hide(client: AsyncTestClient) -> None:
    flag_id, _ = await reported(None)
    await make_staff("mod", "MODERATOR")
    await sign_in(client, "mod")
    page = f"/admin/fraud/{flag_id}"
    assert 'data-testid="gift-message"' not in (await client.get(page)).text
    refused = await post_form(client, f"{page}/hide-message", page, {"reason": "spam"})
    assert refused.status_code == 400

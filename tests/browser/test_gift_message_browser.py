"""A reported gift's message in a real browser: the moderator reads it and hides it."""

from __future__ import annotations

from app.fraud import review
from app.fraud import service as fraud
from app.gifts import messages
from tests.admin.helpers import make_staff
from tests.browser.conftest import screenshot
from tests.browser.test_fraud_browser import sign_in
from tests.conftest import run_sync
from tests.factories import make_gift, make_stream, make_user, send


def test_moderator_reads_and_hides_a_reported_message(page) -> None:
    async def setup() -> tuple[int, int]:
        await make_staff("mod", "MODERATOR")
        sender, host = await make_user("spam.sam", coins=10), await make_user("creator.cleo")
        stream = await make_stream(host)
        event = (
            await send(sender, stream, await make_gift("rose"), message="<b>cheap</b> fans")
        ).event
        await review.report_gift(host.id, event.id, "spam in the message")
        [flag] = await fraud.list_flags()
        return event.id, flag.id

    event_id, flag_id = run_sync(setup())

    sign_in(page, "mod")
    page.goto(f"/admin/fraud/{flag_id}")
    page.wait_for_selector(f"h1:has-text('Flag #{flag_id}')")
    assert page.inner_text("[data-testid=gift-message-text]") == "<b>cheap</b> fans"
    assert page.inner_text("[data-testid=gift-message-state]") == "Visible to viewers."
    screenshot(page, "fraud-flag-message")

    page.fill("#hide_reason", "spam")
    page.click("button:has-text('Hide message')")
    page.wait_for_selector(".flash.success")
    assert f"gift #{event_id} is hidden" in page.inner_text(".flash")
    assert "Hidden by staff:mod" in page.inner_text("[data-testid=gift-message-state]")
    assert page.inner_text("[data-testid=gift-message-text]") == "<b>cheap</b> fans"
    assert run_sync(messages.visible_messages([event_id])) == {}

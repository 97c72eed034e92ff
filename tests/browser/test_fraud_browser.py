"""The fraud queue in a real browser: open a flag, reverse the gift, see the balances change."""

from __future__ import annotations

from app.fraud import service as fraud
from app.fraud.codes import FraudRule, Severity
from tests.admin.helpers import PASSWORD, make_staff
from tests.browser.conftest import screenshot
from tests.conftest import run_sync
from tests.factories import coins_of, diamonds_of, make_gift, make_stream, make_user, send


def sign_in(page, handle: str) -> None:
    page.goto("/admin")
    page.fill("#handle", handle)
    page.fill("#password", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_selector("h1:has-text('Dashboard')")


def test_moderator_reverses_a_flagged_gift(page) -> None:
    async def setup() -> tuple[int, int, int, int]:
        await make_staff("mod", "MODERATOR")
        sender = await make_user("stolen.card", coins=2_000)
        host = await make_user("creator.cleo")
        stream = await make_stream(host)
        event = (await send(sender, stream, await make_gift(coins=1_000, name="Disco Ball"))).event
        await fraud.raise_flag(
            sender.id,
            FraudRule.REFUND_AFTER_SPEND,
            Severity.HIGH,
            {"coins": 2_000, "balance_before": 1_000, "balance_after": -1_000},
            pattern_key="purchase:1",
        )
        [flag] = await fraud.list_flags()
        return sender.id, host.id, event.id, flag.id

    sender_id, host_id, event_id, flag_id = run_sync(setup())

    sign_in(page, "mod")
    page.click("nav >> text=Fraud")
    page.click(f"tr[data-flag='{flag_id}'] >> text=Refund After Spend")
    page.wait_for_selector(f"h1:has-text('Flag #{flag_id}')")
    assert page.inner_text("[data-testid=coins]") == "1,000"
    assert page.locator("svg.graph line").count() == 1
    assert "stolen.card gifted creator.cleo 1000 coins" in page.inner_html("svg.graph")
    screenshot(page, "fraud-flag")

    page.select_option("#gift_event_id", str(event_id))
    page.fill("#reverse_reason", "coins bought with a stolen card")
    page.check("form[action$='/reverse'] input[name=confirm]")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("button:has-text('Reverse gift')")

    page.wait_for_selector(".flash.success")
    assert f"Gift #{event_id} reversed" in page.inner_text(".flash")
    assert page.inner_text("[data-testid=coins]") == "2,000"
    assert page.inner_text("[data-testid=flag-status]") == "ACTIONED"
    assert "by mod" in page.inner_text(f"tr[data-gift-event='{event_id}']")
    assert run_sync(coins_of(sender_id)) == 2_000
    assert run_sync(diamonds_of(host_id)) == 0
    screenshot(page, "fraud-flag-reversed")

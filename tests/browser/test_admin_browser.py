"""The admin in a real browser: sign in, find a user, freeze them, read the audit log."""

from __future__ import annotations

from app.users.service import find_by_handle
from tests.admin.helpers import PASSWORD, make_staff
from tests.browser.conftest import screenshot
from tests.conftest import run_sync
from tests.factories import make_user


def sign_in(page, handle: str) -> None:
    page.goto("/admin")
    page.fill("#handle", handle)
    page.fill("#password", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_selector("h1:has-text('Dashboard')")


def test_moderator_freezes_a_user(page) -> None:
    async def setup() -> None:
        await make_staff("mod", "MODERATOR")
        await make_user("suspicious.sam", coins=350)

    run_sync(setup())

    sign_in(page, "mod")
    screenshot(page, "dashboard")
    page.click("nav >> text=Users")
    page.fill("input[name=q]", "sam")
    page.click("button:has-text('Search')")
    page.click("text=suspicious.sam")
    assert page.inner_text("[data-testid=coins]") == "350"

    page.fill("#reason", "card testing pattern")
    page.check("input[name=confirm]")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("button:has-text('Freeze account')")

    page.wait_for_selector(".flash.success")
    assert "suspicious.sam is frozen." in page.inner_text(".flash")
    assert "Frozen: card testing pattern" in page.inner_text("main")
    sam = run_sync(find_by_handle("suspicious.sam"))
    assert sam is not None
    assert sam.frozen
    screenshot(page, "user-frozen")
    page.click("button:has-text('Sign out')")
    page.wait_for_selector("h1:has-text('Sign in')")


def test_moderator_cannot_open_the_audit_log(page) -> None:
    run_sync(make_staff("mod", "MODERATOR"))
    sign_in(page, "mod")

    response = page.goto("/admin/audit")

    assert response is not None
    assert response.status == 403
    assert "Not for your role" in page.inner_text("h1")


def test_finance_approves_a_payout(page, db) -> None:
    from app.payouts import queries as payout_queries
    from app.payouts import service as payouts
    from tests.factories import give_diamonds

    async def setup() -> int:
        await make_staff("fin", "FINANCE")
        creator = await make_user("creator.cleo")
        await give_diamonds(creator.id, 6_000)
        payout = await payouts.request_payout(
            creator.id, 5_000, "browser-payout", economy=db.settings().economy
        )
        return payout.id

    payout_id = run_sync(setup())
    sign_in(page, "fin")
    page.click("nav >> text=Payouts")
    row = page.locator(f"tr[data-payout='{payout_id}']")
    assert "25.00 USD" in row.inner_text()

    page.once("dialog", lambda dialog: dialog.accept())
    row.locator("button:has-text('Approve')").click()

    page.wait_for_selector(".flash.success")
    assert f"Payout #{payout_id} paid" in page.inner_text(".flash")
    paid = run_sync(payout_queries.get_payout(payout_id))
    assert paid.status.value == "PAID"
    screenshot(page, "payouts")

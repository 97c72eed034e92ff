"""The fraud queue through the real app: list, evidence, and every action audited."""

from __future__ import annotations

from litestar.testing import AsyncTestClient

from app.audit.tables import AuditEntry
from app.fraud import service as fraud
from app.fraud.codes import FlagStatus, FraudRule, Severity
from app.payouts import holds
from app.users.service import get_user
from tests.admin.helpers import make_staff, post_form, sign_in
from tests.factories import coins_of, diamonds_of, make_gift, make_stream, make_user, send


async def flagged_gift():
    sender = await make_user("sender.sid", coins=1_000)
    host = await make_user("host.hana")
    stream = await make_stream(host)
    event = (await send(sender, stream, await make_gift(coins=300))).event
    await fraud.raise_flag(
        sender.id, FraudRule.CREATOR_REPORT, Severity.MEDIUM, {"reason": "spam gifts"}
    )
    [flag] = await fraud.list_flags()
    return sender, host, event, flag


async def test_the_queue_and_the_flag_page_show_the_evidence(client: AsyncTestClient) -> None:
    _, host, event, flag = await flagged_gift()
    await fraud.raise_flag(host.id, FraudRule.NEW_ACCOUNT_SWARM, Severity.HIGH, {})
    await make_staff("mod", "MODERATOR")
    await sign_in(client, "mod")

    queue = await client.get("/admin/fraud")
    page = await client.get(f"/admin/fraud/{flag.id}")
    swarm_only = await client.get("/admin/fraud?rule=NEW_ACCOUNT_SWARM")

    assert queue.status_code == 200
    assert queue.text.index("host.hana") < queue.text.index("sender.sid")  # HIGH first
    assert "sender.sid" not in swarm_only.text
    assert page.status_code == 200
    assert "spam gifts" in page.text  # the flag's own evidence
    assert "<svg" in page.text
    assert "sender.sid gifted host.hana 300 coins" in page.text  # the graph's edge
    assert f'data-gift-event="{event.id}"' in page.text
    assert "GIFT_SENT" in page.text  # the subject's ledger transfers
    assert (await client.get("/admin/fraud/999")).status_code == 404


async def test_reversing_from_the_flag_page_moves_value_back_and_audits(
    client: AsyncTestClient,
) -> None:
    sender, host, event, flag = await flagged_gift()
    await make_staff("mod", "MODERATOR")
    await sign_in(client, "mod")
    page = f"/admin/fraud/{flag.id}"

    unconfirmed = await post_form(
        client, f"{page}/reverse", page, {"gift_event_id": str(event.id), "reason": "card"}
    )
    assert unconfirmed.status_code == 400
    assert "Tick the box to confirm." in unconfirmed.text
    assert await coins_of(sender.id) == 700

    done = await post_form(
        client,
        f"{page}/reverse",
        page,
        {"gift_event_id": str(event.id), "reason": "stolen card", "confirm": "yes"},
    )

    assert done.status_code == 303
    assert (await coins_of(sender.id), await diamonds_of(host.id)) == (1_000, 0)
    assert (await fraud.get_flag(flag.id)).status is FlagStatus.ACTIONED
    actions = {row["action"] for row in await AuditEntry.select()}
    assert {"gift.reverse", "fraud_flag.action"} <= actions


async def test_dismiss_needs_a_note_and_freeze_needs_a_confirmation(
    client: AsyncTestClient,
) -> None:
    sender, _, _, flag = await flagged_gift()
    await make_staff("mod", "MODERATOR")
    await sign_in(client, "mod")
    page = f"/admin/fraud/{flag.id}"
    entries = await AuditEntry.count()

    blank = await post_form(client, f"{page}/dismiss", page, {"note": " "})
    unconfirmed = await post_form(client, f"{page}/freeze", page, {"reason": "fraud ring"})
    assert (blank.status_code, unconfirmed.status_code) == (400, 400)
    assert "Write a note" in blank.text
    assert not (await get_user(sender.id)).frozen
    assert await AuditEntry.count() == entries

    frozen = await post_form(
        client, f"{page}/freeze", page, {"reason": "fraud ring", "confirm": "yes"}
    )
    assert frozen.status_code == 303
    assert (await get_user(sender.id)).frozen
    held = await post_form(client, f"{page}/hold", page, {"reason": "until reviewed"})
    assert held.status_code == 303
    assert await holds.payouts_held(sender.id)
    actions = [
        row["action"]
        for row in await AuditEntry.select().order_by(AuditEntry.id)
        if not row["action"].startswith("staff.")
    ]
    assert actions == ["user.freeze", "fraud_flag.action", "payouts.hold"]


async def test_a_dismissed_flag_leaves_the_open_queue(client: AsyncTestClient) -> None:
    _, _, _, flag = await flagged_gift()
    await make_staff("mod", "MODERATOR")
    await sign_in(client, "mod")
    page = f"/admin/fraud/{flag.id}"

    done = await post_form(client, f"{page}/dismiss", page, {"note": "a fan, not a fraud"})

    assert done.status_code == 303
    assert "sender.sid" not in (await client.get("/admin/fraud")).text
    assert "sender.sid" in (await client.get("/admin/fraud?status=DISMISSED")).text
    assert (await fraud.get_flag(flag.id)).note == "a fan, not a fraud"


async def test_finance_cannot_act_on_flags(client: AsyncTestClient) -> None:
    sender, _, _, flag = await flagged_gift()
    await make_staff("fin", "FINANCE")
    await sign_in(client, "fin")

    response = await post_form(
        client,
        f"/admin/fraud/{flag.id}/freeze",
        "/admin/payouts",
        {"reason": "x", "confirm": "yes"},
    )

    assert response.status_code == 403
    assert not (await get_user(sender.id)).frozen


async def test_the_payouts_queue_marks_a_creator_whose_payouts_are_held(
    client: AsyncTestClient,
) -> None:
    from app.payouts import service as payouts
    from app.settings import EconomySettings
    from tests.factories import give_diamonds, staff

    creator = await make_user("held.creator")
    await give_diamonds(creator.id, 5_000)
    payout = await payouts.request_payout(creator.id, 2_000, "p", economy=EconomySettings())
    await make_staff("fin", "FINANCE")
    await sign_in(client, "fin")
    row = f'data-payout="{payout.id}"'

    before = (await client.get("/admin/payouts")).text
    await holds.set_payouts_held(creator.id, held=True, actor=staff("mod"), reason="review")
    after = (await client.get("/admin/payouts")).text

    assert row in before
    assert "payouts held" not in before
    assert "payouts held" in after

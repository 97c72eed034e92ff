"""Finance works the payouts queue: approve pays, reject releases, both audited."""

from __future__ import annotations

from litestar.testing import AsyncTestClient

from app.audit import service as audit
from app.fraud import service as fraud
from app.fraud.codes import FraudRule, Severity
from app.payouts import queries as payout_queries
from app.payouts import records as payout_records
from app.payouts import service as payouts
from app.payouts.codes import PayoutStatus
from app.settings import Settings
from tests.admin.helpers import make_staff, post_form, sign_in
from tests.factories import diamonds_of, give_diamonds, make_user


async def pending_payout(
    handle: str, diamonds: int, settings: Settings
) -> payout_records.PayoutRecord:
    creator = await make_user(handle)
    await give_diamonds(creator.id, diamonds * 2)
    return await payouts.request_payout(
        creator.id, diamonds, f"payout-{handle}", economy=settings.economy
    )


async def test_finance_approves_and_the_creator_is_paid(
    client: AsyncTestClient, settings: Settings
) -> None:
    await make_staff("fin", "FINANCE")
    payout = await pending_payout("ana", 4_000, settings)
    await sign_in(client, "fin")

    queue = (await client.get("/admin/payouts")).text
    assert "ana" in queue
    assert "20.00 USD" in queue
    response = await post_form(client, f"/admin/payouts/{payout.id}/approve", "/admin/payouts", {})

    assert response.status_code == 303
    paid = await payout_queries.get_payout(payout.id)
    assert paid.status is PayoutStatus.PAID
    assert paid.payment_reference
    assert paid.decided_by == "fin"
    assert await diamonds_of(paid.creator_id) == 4_000
    [entry] = await audit.list_entries(limit=5, action="payout.")
    assert (entry.action, entry.actor, entry.target_id) == ("payout.approve", "fin", str(payout.id))
    assert paid.payment_reference in (await client.get("/admin/payouts?status=PAID")).text


async def test_finance_rejects_with_a_reason_and_diamonds_come_back(
    client: AsyncTestClient, settings: Settings
) -> None:
    await make_staff("fin", "FINANCE")
    payout = await pending_payout("ben", 2_500, settings)
    await sign_in(client, "fin")

    empty = await post_form(
        client, f"/admin/payouts/{payout.id}/reject", "/admin/payouts", {"reason": ""}
    )
    assert (await payout_queries.get_payout(payout.id)).status is PayoutStatus.PENDING
    assert empty.status_code == 303
    await post_form(
        client,
        f"/admin/payouts/{payout.id}/reject",
        "/admin/payouts",
        {"reason": "ID check failed"},
    )

    rejected = await payout_queries.get_payout(payout.id)
    assert rejected.status is PayoutStatus.REJECTED
    assert await diamonds_of(rejected.creator_id) == 5_000
    [entry] = await audit.list_entries(limit=5, action="payout.")
    assert (entry.action, entry.reason) == ("payout.reject", "ID check failed")


async def test_flagged_creators_are_marked_in_the_queue(
    client: AsyncTestClient, settings: Settings
) -> None:
    await make_staff("fin", "FINANCE")
    payout = await pending_payout("cleo", 3_000, settings)
    await fraud.raise_flag(payout.creator_id, FraudRule.CREATOR_REPORT, Severity.LOW, {})
    await sign_in(client, "fin")

    row = (await client.get("/admin/payouts")).text

    assert "flagged" in row


async def test_a_second_approval_of_one_payout_changes_nothing(
    client: AsyncTestClient, settings: Settings
) -> None:
    await make_staff("fin", "FINANCE")
    payout = await pending_payout("dora", 2_000, settings)
    await sign_in(client, "fin")
    await post_form(client, f"/admin/payouts/{payout.id}/approve", "/admin/payouts", {})

    again = await post_form(client, f"/admin/payouts/{payout.id}/approve", "/admin/payouts", {})

    assert again.status_code == 303
    assert "already paid" in (await client.get("/admin/payouts")).text
    assert len(await audit.list_entries(limit=5, action="payout.")) == 1

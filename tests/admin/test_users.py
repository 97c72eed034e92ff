"""Moderators search users, read their ledger and freeze accounts; every action is audited."""

from __future__ import annotations

import pytest
from litestar.testing import AsyncTestClient

from app.audit import service as audit
from app.audit.tables import AuditEntry
from app.core.transactions import in_transaction
from app.users.service import get_user
from tests.admin.helpers import make_staff, post_form, sign_in
from tests.factories import make_user


async def test_search_finds_users_by_handle(client: AsyncTestClient) -> None:
    await make_staff("mod", "MODERATOR")
    await make_user("rosa.parks", coins=70)
    await make_user("rosalind")
    await make_user("alan")
    await sign_in(client, "mod")

    page = (await client.get("/admin/users", params={"q": "ROSA"})).text

    assert "rosa.parks" in page
    assert "rosalind" in page
    assert "alan" not in page
    assert ">70<" in page


async def test_freeze_and_unfreeze_write_audit_entries(client: AsyncTestClient) -> None:
    await make_staff("mod", "MODERATOR")
    target = await make_user("suspect", coins=100)
    await sign_in(client, "mod")
    page = f"/admin/users/{target.id}"

    frozen = await post_form(
        client, f"{page}/freeze", page, {"reason": "chargeback pattern", "confirm": "yes"}
    )
    assert frozen.status_code == 303
    after_freeze = await get_user(target.id)
    thawed = await post_form(
        client, f"{page}/unfreeze", page, {"reason": "cleared", "confirm": "yes"}
    )
    assert thawed.status_code == 303

    assert after_freeze.frozen
    assert after_freeze.frozen_reason == "chargeback pattern"
    assert not (await get_user(target.id)).frozen
    entries = await audit.list_entries(limit=10, target_type="user", target_id=str(target.id))
    assert [(e.action, e.actor, e.before, e.after, e.reason) for e in entries] == [
        ("user.unfreeze", "mod", {"frozen": True}, {"frozen": False}, "cleared"),
        ("user.freeze", "mod", {"frozen": False}, {"frozen": True}, "chargeback pattern"),
    ]
    shown = (await client.get(page)).text
    assert "chargeback pattern" in shown


async def test_freeze_needs_a_reason_and_confirmation(client: AsyncTestClient) -> None:
    await make_staff("mod", "MODERATOR")
    target = await make_user()
    await sign_in(client, "mod")
    page = f"/admin/users/{target.id}"

    unconfirmed = await post_form(client, f"{page}/freeze", page, {"reason": "x"})
    no_reason = await post_form(client, f"{page}/freeze", page, {"reason": " ", "confirm": "yes"})

    assert unconfirmed.status_code == no_reason.status_code == 303
    assert not (await get_user(target.id)).frozen
    assert await AuditEntry.count().where(AuditEntry.action == "user.freeze") == 0
    followed = await client.get(page)
    assert "Say why." in followed.text


async def test_audit_log_is_append_only(db) -> None:
    from app.audit.service import Actor

    async def write() -> None:
        await audit.record(
            Actor(None, "system", "ADMIN"), "test.action", target_type="x", target_id=1
        )

    await in_transaction(write)

    with pytest.raises(Exception, match="append-only"):
        await AuditEntry.update({AuditEntry.reason: "rewritten"}).where(AuditEntry.id > 0)
    with pytest.raises(Exception, match="append-only"):
        await AuditEntry.delete().where(AuditEntry.id > 0)
    assert await AuditEntry.count() == 1


async def test_audit_page_filters(client: AsyncTestClient) -> None:
    await make_staff("boss", "ADMIN")
    await make_staff("mod", "MODERATOR")
    target = await make_user("suspect")
    await sign_in(client, "mod")
    page = f"/admin/users/{target.id}"
    await post_form(client, f"{page}/freeze", page, {"reason": "r1", "confirm": "yes"})
    await sign_in(client, "boss")

    everything = (await client.get("/admin/audit")).text
    freezes = (await client.get("/admin/audit", params={"action": "user."})).text

    assert "staff.sign_in" in everything
    assert "user.freeze" in everything
    assert "user.freeze" in freezes
    assert "staff.sign_in" not in freezes

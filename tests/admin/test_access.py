"""Staff sign-in, sessions, roles and CSRF, through the real app."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from litestar.testing import AsyncTestClient

from app.audit.tables import AuditEntry
from app.core.clock import set_clock
from app.main import create_app
from app.settings import SignInSettings
from app.users.service import get_user
from tests.admin.helpers import PASSWORD, make_staff, post_form, sign_in
from tests.factories import make_user

PAGES = [
    "/admin",
    "/admin/users",
    "/admin/payouts",
    "/admin/packages",
    "/admin/gifts",
    "/admin/offers",
    "/admin/audit",
    "/admin/fraud",
]
ALLOWED = {
    "ADMIN": set(PAGES),
    "MODERATOR": {"/admin", "/admin/users", "/admin/fraud"},
    "FINANCE": {"/admin", "/admin/payouts"},
    "CATALOG": {"/admin", "/admin/packages", "/admin/gifts", "/admin/offers"},
}


@pytest.mark.parametrize("role", sorted(ALLOWED))
async def test_each_role_sees_only_its_pages(client: AsyncTestClient, role: str) -> None:
    await make_staff("someone", role)
    assert (await sign_in(client, "someone")).status_code == 303

    statuses = {page: (await client.get(page)).status_code for page in PAGES}

    assert statuses == {page: 200 if page in ALLOWED[role] else 403 for page in PAGES}


async def test_signed_out_visitors_are_sent_to_sign_in(client: AsyncTestClient) -> None:
    response = await client.get("/admin/users?q=ab", follow_redirects=False)

    assert response.status_code == 303
    assert response.headers["location"] == "/admin/login?next=/admin/users%3Fq%3Dab"


async def test_wrong_password_and_unknown_handle_look_the_same(client: AsyncTestClient) -> None:
    await make_staff("mod", "MODERATOR")

    wrong = await sign_in(client, "mod", "not the password")
    unknown = await sign_in(client, "nobody", "not the password")

    assert wrong.status_code == unknown.status_code == 401
    assert "Wrong handle or password." in wrong.text
    assert "Wrong handle or password." in unknown.text


async def test_session_cookie_is_httponly_lax_and_scoped(client: AsyncTestClient) -> None:
    await make_staff("mod", "MODERATOR")

    response = await sign_in(client, "mod")

    cookie = next(
        c for c in response.headers.get_list("set-cookie") if c.startswith("coins_admin_session=")
    )
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Path=/admin" in cookie
    assert "Secure" not in cookie  # plain HTTP in tests and development


async def test_session_cookie_is_secure_in_production(db) -> None:
    settings = db.settings(env="production")
    await make_staff("mod", "MODERATOR")
    async with AsyncTestClient(create_app(settings), base_url="https://testserver.local") as client:
        response = await sign_in(client, "mod")

    assert response.status_code == 303
    cookies = response.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith("coins_admin_session="))
    assert "Secure" in session
    assert "HttpOnly" in session


async def test_sign_in_rotates_the_session_and_sign_out_ends_it(client: AsyncTestClient) -> None:
    await make_staff("mod", "MODERATOR")
    await sign_in(client, "mod")
    first = client.cookies.get("coins_admin_session")
    await sign_in(client, "mod")
    second = client.cookies.get("coins_admin_session")
    assert first
    assert second
    assert first != second

    client.cookies.set("coins_admin_session", first, path="/admin")
    stale = await client.get("/admin/users", follow_redirects=False)
    assert stale.status_code == 303  # the old id died at the new sign-in

    client.cookies.set("coins_admin_session", second, path="/admin")
    assert (await client.get("/admin/users")).status_code == 200
    out = await post_form(client, "/admin/logout", "/admin/users", {})
    assert out.status_code == 303
    client.cookies.set("coins_admin_session", second, path="/admin")
    assert (await client.get("/admin/users", follow_redirects=False)).status_code == 303


async def test_idle_sessions_expire_after_thirty_minutes(client: AsyncTestClient) -> None:
    await make_staff("mod", "MODERATOR")
    start = datetime.now(UTC)
    set_clock(lambda: start)
    await sign_in(client, "mod")

    set_clock(lambda: start + timedelta(minutes=29))
    assert (await client.get("/admin/users")).status_code == 200
    set_clock(lambda: start + timedelta(minutes=29 + 31))
    assert (await client.get("/admin/users", follow_redirects=False)).status_code == 303


async def test_five_failures_lock_the_account_for_a_while(db) -> None:
    # The staff row's own lockout, without the growing wait every handle has (app.sign_in).
    settings = db.settings(sign_in=SignInSettings(free_failures=100))
    await make_staff("mod", "MODERATOR")
    start = datetime.now(UTC)
    set_clock(lambda: start)
    async with AsyncTestClient(create_app(settings)) as client:
        for _ in range(5):
            assert (await sign_in(client, "mod", "wrong password!")).status_code == 401

        locked = await sign_in(client, "mod", PASSWORD)
        assert locked.status_code == 401
        assert "Too many failed sign-ins. Try again in 15 minute(s)." in locked.text
        assert await AuditEntry.count().where(AuditEntry.action == "staff.locked_out") == 1

        set_clock(lambda: start + timedelta(minutes=16))
        assert (await sign_in(client, "mod", PASSWORD)).status_code == 303


async def test_a_post_without_csrf_token_is_refused_and_changes_nothing(
    client: AsyncTestClient,
) -> None:
    await make_staff("mod", "MODERATOR")
    target = await make_user()
    await sign_in(client, "mod")
    entries = await AuditEntry.count()

    response = await client.post(
        f"/admin/users/{target.id}/freeze",
        data={"reason": "no token", "confirm": "yes"},
        follow_redirects=False,
    )

    assert response.status_code == 403
    assert not (await get_user(target.id)).frozen
    assert await AuditEntry.count() == entries


async def test_sign_in_never_redirects_off_site(client: AsyncTestClient) -> None:
    from tests.admin.helpers import csrf_token

    await make_staff("mod", "MODERATOR")
    token = await csrf_token(client)
    response = await client.post(
        "/admin/login",
        data={
            "handle": "mod",
            "password": PASSWORD,
            "next": "https://evil.example/",
            "_csrf_token": token,
        },
        follow_redirects=False,
    )

    assert response.headers["location"] == "/admin"

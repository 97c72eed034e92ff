"""Signing in to the admin the way a browser does: fetch the form, post it with its token."""

from __future__ import annotations

import re

from litestar.testing import AsyncTestClient

from app.staff.service import StaffRecord, create_staff

PASSWORD = "staff password 123"
_TOKEN = re.compile(r'name="_csrf_token" value="([^"]+)"')


async def make_staff(handle: str, role: str) -> StaffRecord:
    return await create_staff(handle, PASSWORD, role)


async def csrf_token(client: AsyncTestClient, path: str = "/admin/login") -> str:
    page = await client.get(path)
    match = _TOKEN.search(page.text)
    assert match, f"no CSRF field on {path}"
    return match.group(1)


async def sign_in(client: AsyncTestClient, handle: str, password: str = PASSWORD):
    token = await csrf_token(client)
    return await client.post(
        "/admin/login",
        data={"handle": handle, "password": password, "next": "/admin", "_csrf_token": token},
        follow_redirects=False,
    )


async def post_form(client: AsyncTestClient, path: str, form_page: str, data: dict[str, str]):
    """Post a form with the CSRF token taken from the page that shows it."""
    token = await csrf_token(client, form_page)
    return await client.post(path, data={**data, "_csrf_token": token}, follow_redirects=False)

"""The admin's one-time message cookie is as strict as the session cookie."""

from __future__ import annotations

import pytest
from litestar.testing import AsyncTestClient

from app.main import create_app
from tests.admin.helpers import make_staff, sign_in
from tests.conftest import Database
from tests.factories import make_user


@pytest.mark.parametrize(("env", "secure"), [("production", True), ("test", False)])
async def test_the_flash_cookie_is_httponly_samesite_and_secure_in_production(
    db: Database, env: str, secure: bool
) -> None:
    settings = db.settings(env=env)
    await make_user("ana")
    await make_staff("fin", "FINANCE")

    async with AsyncTestClient(create_app(settings), base_url="https://testserver.local") as client:
        await sign_in(client, "fin")
        refused = await client.get(
            "/admin/payouts/statement",
            params={"handle": "ana", "month": "soon"},
            follow_redirects=False,
        )

    [flash] = [c for c in refused.headers.get_list("set-cookie") if "coins_admin_flash=" in c]
    attributes = {part.strip().split("=")[0].lower() for part in flash.split(";")}
    assert refused.status_code == 303
    assert {"httponly", "samesite"} <= attributes
    assert "samesite=lax" in flash.lower()
    assert ("secure" in attributes) is secure

"""Rendering admin pages: the signed-in staff member, navigation and flash messages."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from litestar import Request
from litestar.datastructures import Cookie
from litestar.response import Redirect, Template

from app.admin.auth import ADMIN_PATH
from app.staff.service import Role, StaffRecord

FLASH_COOKIE = "coins_admin_flash"

# (label, path, roles allowed besides ADMIN)
NAVIGATION: tuple[tuple[str, str, tuple[Role, ...]], ...] = (
    ("Dashboard", "/admin", (Role.CATALOG, Role.MODERATOR, Role.FINANCE)),
    ("Gifts", "/admin/gifts", (Role.CATALOG,)),
    ("Packages", "/admin/packages", (Role.CATALOG,)),
    ("Offers", "/admin/offers", (Role.CATALOG,)),
    ("Users", "/admin/users", (Role.MODERATOR,)),
    ("Fraud", "/admin/fraud", (Role.MODERATOR,)),
    ("Payouts", "/admin/payouts", (Role.FINANCE,)),
    ("Audit log", "/admin/audit", ()),
)


def navigation_for(staff: StaffRecord | None) -> list[tuple[str, str]]:
    if staff is None:
        return []
    return [(label, path) for label, path, roles in NAVIGATION if staff.may(*roles)]


def render(
    request: Request[Any, Any, Any], template: str, *, status_code: int = 200, **context: Any
) -> Template:
    staff: StaffRecord | None = request.state.get("staff")
    flash = _read_flash(request.cookies.get(FLASH_COOKIE))
    cookies = [Cookie(key=FLASH_COOKIE, value="", path=ADMIN_PATH, max_age=0)] if flash else []
    return Template(
        template_name=template,
        context={
            "staff": staff,
            "navigation": navigation_for(staff),
            "current_path": request.url.path,
            "flash": flash,
            **context,
        },
        status_code=status_code,
        cookies=cookies,
    )


def redirect(path: str, message: str | None = None, *, kind: str = "success") -> Redirect:
    """Post/redirect/get, carrying a one-time message to the next page."""
    cookies = []
    if message:
        value = base64.urlsafe_b64encode(json.dumps({"kind": kind, "text": message}).encode())
        cookies.append(
            Cookie(
                key=FLASH_COOKIE, value=value.decode(), path=ADMIN_PATH, httponly=True, max_age=120
            )
        )
    return Redirect(path, status_code=303, cookies=cookies)


def _read_flash(raw: str | None) -> dict[str, str] | None:
    if not raw:
        return None
    try:
        value = json.loads(base64.urlsafe_b64decode(raw.encode()))
    except (ValueError, binascii.Error):
        return None
    if isinstance(value, dict) and {"kind", "text"} <= value.keys():
        return {"kind": str(value["kind"]), "text": str(value["text"])}
    return None

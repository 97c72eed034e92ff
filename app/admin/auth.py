"""Who is signed in to the admin, and may they open this page.

Every admin route runs ``staff_guard``. Routes say which roles may use them with
``opt={"roles": [...]}``; a route that names none is open to ADMIN only (deny by
default). Public routes (the sign-in page) say ``opt={"public": True}``.
"""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers import BaseRouteHandler

from app.staff import service as staff_service
from app.staff.service import Role, StaffRecord

SESSION_COOKIE = "coins_admin_session"
ADMIN_PATH = "/admin"


async def staff_guard(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    if handler.opt.get("public"):
        return
    staff = await signed_in_staff(connection)
    if staff is None:
        raise NotAuthorizedException("Sign in to continue.")
    roles: list[Role] = handler.opt.get("roles", [])
    if not staff.may(*roles):
        raise PermissionDeniedException("Your role does not open this page.")


async def signed_in_staff(connection: ASGIConnection[Any, Any, Any, Any]) -> StaffRecord | None:
    if "staff" not in connection.state:
        token = connection.cookies.get(SESSION_COOKIE)
        connection.state.staff = await staff_service.staff_for_session(token) if token else None
    return connection.state.staff


def current_staff(request: Request[Any, Any, Any]) -> StaffRecord:
    staff = request.state.get("staff")
    if staff is None:  # the guard ran first; this is a programming error
        raise NotAuthorizedException()
    return staff


def session_cookie(token: str, *, secure: bool) -> Cookie:
    return Cookie(
        key=SESSION_COOKIE,
        value=token,
        path=ADMIN_PATH,
        httponly=True,
        secure=secure,
        samesite="lax",
        max_age=int(staff_service.IDLE_TIMEOUT.total_seconds()) * 16,
    )


def expired_session_cookie(*, secure: bool) -> Cookie:
    return Cookie(
        key=SESSION_COOKIE,
        value="",
        path=ADMIN_PATH,
        httponly=True,
        secure=secure,
        samesite="lax",
        max_age=0,
    )

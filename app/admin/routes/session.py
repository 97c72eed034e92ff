"""Signing in and out of the admin."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromQuery
from litestar.response import Redirect, Template

from app.admin.auth import SESSION_COOKIE, expired_session_cookie, session_cookie
from app.admin.pages import redirect, render
from app.admin.refusals import refuses
from app.core.errors import DomainError
from app.settings import Settings
from app.staff import service as staff_service
from app.web.client_ip import connection_ip


def _safe_next(value: object) -> str:
    """Only paths inside the admin; never an open redirect to another site."""
    path = str(value or "")
    if path.startswith("/admin") and not path.startswith("//"):
        return path
    return "/admin"


async def _login_again(
    request: Request[Any, Any, Any], error: DomainError, _: Mapping[str, Any]
) -> Template:
    """The sign-in form again, 401, with the handle kept and the password not."""
    form = await request.form()
    return render(
        request,
        "login.html",
        status_code=401,
        next=_safe_next(form.get("next")),
        error=error.message,
        handle=str(form.get("handle", "")),
    )


class SessionController(Controller):
    path = "/admin"

    @get("/login", opt={"public": True})
    async def login_form(
        self, request: Request[Any, Any, Any], next: FromQuery[str] = "/admin"
    ) -> Template:
        return render(request, "login.html", next=_safe_next(next), error=None, handle="")

    @post("/login", opt={"public": True})
    @refuses(_login_again)
    async def login(
        self, request: Request[Any, Any, Any], settings: NamedDependency[Settings]
    ) -> Redirect:
        form = await request.form()
        target = _safe_next(form.get("next"))
        staff = await staff_service.authenticate(
            str(form.get("handle", "")),
            str(form.get("password", "")),
            throttle=request.app.state.sign_in,
            ip=connection_ip(request, settings.trusted_proxies),
        )
        token = await staff_service.start_session(staff, request.cookies.get(SESSION_COOKIE))
        response = redirect(target, f"Signed in as {staff.handle}.")
        response.cookies.append(session_cookie(token, secure=settings.secure_cookies))
        return response

    @post("/logout", opt={"roles": list(staff_service.Role)})
    async def logout(
        self, request: Request[Any, Any, Any], settings: NamedDependency[Settings]
    ) -> Redirect:
        token = request.cookies.get(SESSION_COOKIE)
        if token:
            await staff_service.end_session(token)
        response = redirect("/admin/login", "Signed out.")
        response.cookies.append(expired_session_cookie(secure=settings.secure_cookies))
        return response

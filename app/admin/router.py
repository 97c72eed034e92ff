"""The /admin router: every route behind the staff guard, errors as admin pages."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any
from urllib.parse import quote

from litestar import Request, Response, Router
from litestar.exceptions import NotAuthorizedException, NotFoundException, PermissionDeniedException
from litestar.response import Redirect

from app.admin.auth import staff_guard
from app.admin.pages import FLASH_COOKIE, render
from app.admin.refusals import refused
from app.admin.routes.audit import AuditController
from app.admin.routes.dashboard import DashboardController
from app.admin.routes.fraud import FraudController
from app.admin.routes.gifts import GiftsController
from app.admin.routes.offers import OffersController
from app.admin.routes.packages import PackagesController
from app.admin.routes.payouts import PayoutsController
from app.admin.routes.session import SessionController
from app.admin.routes.users import UsersController
from app.core.errors import DomainError


def _to_login(request: Request[Any, Any, Any], _: NotAuthorizedException) -> Response[Any]:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return Redirect(f"/admin/login?next={quote(target)}", status_code=303)


def _forbidden(request: Request[Any, Any, Any], error: PermissionDeniedException) -> Response[Any]:
    return render(
        request, "error.html", status_code=403, title="Not for your role", message=error.detail
    )


def _not_found(request: Request[Any, Any, Any], error: NotFoundException) -> Response[Any]:
    return render(request, "error.html", status_code=404, title="Not found", message=error.detail)


def _harden_flash(response: Response[Any], *, secure: bool) -> Response[Any]:
    """The flash cookie as strict as the session's: HttpOnly, SameSite=Lax, and Secure
    outside development and tests (plain-HTTP servers there)."""
    response.cookies = [
        replace(cookie, httponly=True, samesite="lax", secure=secure)
        if cookie.key == FLASH_COOKIE
        else cookie
        for cookie in response.cookies
    ]
    return response


def admin_router(*, secure_cookies: bool = True) -> Router:
    """``secure_cookies``: ``Settings.secure_cookies``."""

    async def after_request(response: Response[Any]) -> Response[Any]:
        return _harden_flash(response, secure=secure_cookies)

    def hardened(handler: Callable[[Request[Any, Any, Any], Any], Any]) -> Any:
        # Exception handlers' responses skip after_request: the refusals flash too.
        def handle(request: Request[Any, Any, Any], error: Any) -> Response[Any]:
            return _harden_flash(handler(request, error), secure=secure_cookies)

        return handle

    return Router(
        path="/",
        route_handlers=[
            SessionController,
            DashboardController,
            UsersController,
            PackagesController,
            GiftsController,
            OffersController,
            PayoutsController,
            AuditController,
            FraudController,
        ],
        guards=[staff_guard],
        after_request=after_request,
        exception_handlers={
            NotAuthorizedException: hardened(_to_login),
            PermissionDeniedException: hardened(_forbidden),
            NotFoundException: hardened(_not_found),
            DomainError: hardened(refused),
        },
        include_in_schema=False,
    )

"""The /admin router: every route behind the staff guard, errors as admin pages."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from litestar import Request, Response, Router
from litestar.exceptions import NotAuthorizedException, NotFoundException, PermissionDeniedException
from litestar.response import Redirect

from app.admin.auth import staff_guard
from app.admin.pages import render
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


def admin_router() -> Router:
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
        exception_handlers={
            NotAuthorizedException: _to_login,
            PermissionDeniedException: _forbidden,
            NotFoundException: _not_found,
            DomainError: refused,
        },
        include_in_schema=False,
    )

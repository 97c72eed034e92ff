"""The admin's one way of showing a refusal: routes call services and never catch DomainError.

A service refuses with ``DomainError(code, message, field)``. A route says once, with
``@refuses(...)``, how its refusals are shown:

- ``back_to("/admin/users/{user_id}")``: redirect there (path parameters filled in) with
  the message as an error flash, for one-click actions;
- ``form_errors(page)``: the form's page again with status 400 and the message beside the
  field it names, what was typed kept, for forms;
- any other ``Refusal``: a function of the request, the error and the route's arguments,
  for the odd page out.

A route without ``@refuses`` (a list page given a broken page link, say) falls through to
the router's ``refused`` handler: the 404 page for NOT_FOUND, else the 400 error page.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, ParamSpec, TypeVar

from litestar import Request, Response
from litestar.exceptions import NotFoundException

from app.admin.pages import redirect, render
from app.core.errors import DomainError, ErrorCode

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")

# (request, error, the route's arguments: path parameters and dependencies by name)
Refusal = Callable[
    [Request[Any, Any, Any], DomainError, Mapping[str, Any]], Awaitable[Response[Any]]
]
# A form page drawn again with {field: message} beside its fields.
FormPage = Callable[[Request[Any, Any, Any], dict[str, str]], Awaitable[Response[Any]]]


def refuses(
    refusal: Refusal, *, also: tuple[type[Exception], ...] = ()
) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R | Response[Any]]]]:
    """Show the route's DomainError (and the ``also`` failures, by their text) as ``refusal``.

    The route must take ``request``; Litestar reads the wrapped signature, so its
    parameters and dependencies are unchanged.
    """

    def decorate(handler: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R | Response[Any]]]:
        @functools.wraps(handler)
        async def run(*args: P.args, **kwargs: P.kwargs) -> R | Response[Any]:
            try:
                return await handler(*args, **kwargs)
            except (DomainError, *also) as error:
                if not isinstance(error, DomainError):
                    error = DomainError(ErrorCode.INVALID_INPUT, str(error))
                request: Request[Any, Any, Any] = kwargs["request"]  # type: ignore[assignment]
                return await refusal(request, error, kwargs)

        return run

    return decorate


def back_to(path: str) -> Refusal:
    """Redirect to ``path`` (``{name}`` filled from the path parameters), flashing why."""

    async def refuse(
        request: Request[Any, Any, Any], error: DomainError, _: Mapping[str, Any]
    ) -> Response[Any]:
        return redirect(path.format(**request.path_params), error.message, kind="error")

    return refuse


def form_errors(page: FormPage, *, default_field: str, field: str | None = None) -> Refusal:
    """Draw ``page`` again with the message beside the error's field (``default_field``
    when it names none; always ``field`` when given, for a form of one purpose)."""

    async def refuse(
        request: Request[Any, Any, Any], error: DomainError, _: Mapping[str, Any]
    ) -> Response[Any]:
        return await page(request, {field or error.field or default_field: error.message})

    return refuse


async def or_404(lookup: Awaitable[T], message: str) -> T:
    """The thing a page's path names, or the 404 page (not a refusal beside a form)."""
    try:
        return await lookup
    except DomainError as error:
        if error.code is ErrorCode.NOT_FOUND:
            raise NotFoundException(message) from None
        raise


def refused(request: Request[Any, Any, Any], error: DomainError) -> Response[Any]:
    """The router's handler for a refusal no route showed: a page that says why."""
    if error.code is ErrorCode.NOT_FOUND:
        return render(
            request, "error.html", status_code=404, title="Not found", message=error.message
        )
    return render(
        request, "error.html", status_code=400, title="Not possible", message=error.message
    )

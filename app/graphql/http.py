"""``/graphql`` over HTTP and WebSocket: Strawberry's Litestar controller, with a short road
for the request nearly every client sends.

A JSON POST of one operation (what the apps and the gift button send) is decoded, run and
encoded here, without the controller's dependency injection (a task group per request),
its generic body parsing or ``json``. Everything else takes Strawberry's own road,
unchanged: batches, multipart, streamed results, subscriptions, and any body the short
road cannot read, so malformed requests get Strawberry's usual answers.

GET runs queries (never mutations) on the same short road, with a ``Cache-Control`` a CDN
can act on, and serves GraphiQL (development) from assets shipped with the app. Both
methods take persisted queries (``app.graphql.persisted``): on a plain POST that costs one
check of ``extensions``, absent from a plain body.
"""

from __future__ import annotations

from pathlib import Path
from time import perf_counter
from typing import Any, ClassVar

import msgspec
from litestar import Request, Response, get, post
from litestar.background_tasks import BackgroundTasks
from litestar.di import Provide
from litestar.enums import MediaType
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.types import Dependencies, ExceptionHandlersMap
from strawberry.exceptions import ConnectionRejectionError, MissingQueryError
from strawberry.litestar import make_graphql_controller
from strawberry.schema import Schema
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types.graphql import OperationType
from strawberry.types.unset import UnsetType
from structlog.contextvars import get_contextvars

from app.core.errors import DomainError
from app.graphql.context import Context
from app.graphql.errors import UNEXPECTED
from app.graphql.persisted import PersistedQueries, PersistedQueryError, sha256_of
from app.observability.metrics import observe_operation
from app.settings import Settings
from app.sign_in import SignInThrottle

_POST_OPERATIONS = OperationType.from_http("POST")
_GET_OPERATIONS = frozenset({OperationType.QUERY})
GRAPHIQL_PAGE = Path(__file__).parent / "graphiql" / "index.html"
GRAPHIQL_ASSETS = Path(__file__).parent / "graphiql" / "assets"
GRAPHIQL_ASSETS_PATH = "/graphiql"
# The page loads only what the app serves: no CDN, works offline.
GRAPHIQL_CSP = (
    "default-src 'self'; connect-src 'self'; img-src 'self' data:; "
    "style-src 'self' 'unsafe-inline'; font-src 'self' data:"
)
_STREAMING = ("multipart/mixed", "text/event-stream")
# Where Strawberry's road leaves the errors of the results it processed, for the metrics.
_ERRORS = "graphql_errors"


class _Operation(msgspec.Struct, rename="camel"):
    """One GraphQL operation as a JSON body carries it."""

    query: str | None = None
    variables: dict[str, Any] | None = None
    operation_name: str | None = None
    extensions: dict[str, Any] | None = None


_decode = msgspec.json.Decoder(_Operation).decode
_encode = msgspec.json.Encoder().encode


def sub_response() -> Response[Any]:
    """Where resolvers may set headers, cookies or background tasks (``context.response``)."""
    return Response({}, background=BackgroundTasks([]))


def _operation(request: Request[Any, Any, Any], body: bytes) -> _Operation | None:
    """The one operation of a plain JSON POST, or None for Strawberry to handle."""
    if request.content_type[0] != "application/json":
        return None
    accept = request.headers.get("accept", "")
    if any(kind in accept for kind in _STREAMING):
        return None
    try:
        return _decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


class _Refused(Exception):
    """A GET the server will not run; answered as a GraphQL error with a stable code."""

    def __init__(self, status_code: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code
        self.message = message


def _json_param(params: Any, name: str) -> dict[str, Any] | None:
    raw = params.get(name)
    if not raw:
        return None
    try:
        value = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        value = None
    if not isinstance(value, dict):
        raise _Refused(400, "BAD_REQUEST", f"The {name} parameter must be a JSON object.")
    return value


def _error_response(
    status_code: int, code: str, message: str, headers: dict[str, str] | None = None
) -> Response[bytes]:
    body = _encode({"errors": [{"message": message, "extensions": {"code": code}}]})
    return Response(
        body,
        status_code=status_code,
        media_type=MediaType.JSON,
        headers={"Cache-Control": "no-store", **(headers or {})},
    )


def _cache_control(request: Request[Any, Any, Any], failed: bool, max_age_s: int) -> str:
    """Anonymous answers are the same for everyone: a CDN may keep them briefly. An answer
    to a bearer token is that user's alone, and an error is not worth keeping."""
    if "authorization" in request.headers:
        return "private, no-store"
    if failed:
        return "no-store"
    return f"public, max-age={max_age_s}"


def graphql_controller(
    schema: Schema,
    settings: Settings,
    feed: Any,
    *,
    graphiql: bool,
    sign_in: SignInThrottle | None = None,
    persisted: PersistedQueries | None = None,
) -> type[Any]:
    """The controller mounted at ``/graphql``."""
    persisted = persisted or PersistedQueries({})
    max_age_s = settings.http.get_max_age_s

    def new_context() -> Context:
        return Context(settings=settings, feed=feed, sign_in=sign_in)

    async def context_getter() -> Context:
        return new_context()

    base = make_graphql_controller(
        schema,
        path="/graphql",
        graphql_ide="graphiql" if graphiql else None,
        allow_queries_via_get=False,
        context_getter=context_getter,
        # Browsers on these origins may open the subscriptions' websocket too.
        allowed_origins=settings.cors_origins,
    )

    max_body_bytes = settings.graphql.max_body_bytes

    def too_large(_: Request[Any, Any, Any], __: RequestEntityTooLarge) -> Response[bytes]:
        """A GraphQL-shaped 413, so clients show the reason like any other error."""
        message = f"The request body is larger than {max_body_bytes} bytes."
        body = {"errors": [{"message": message, "extensions": {"code": "REQUEST_TOO_LARGE"}}]}
        return Response(_encode(body), status_code=413, media_type=MediaType.JSON)

    class GraphQLController(base):  # type: ignore[valid-type,misc]
        # Bodies are read up to this size and no further (Litestar's default is 10 MB).
        request_max_body_size = max_body_bytes
        exception_handlers: ClassVar[ExceptionHandlersMap] = {RequestEntityTooLarge: too_large}
        # Strawberry provides the sub-response through ``sync_to_thread``: a thread hop on
        # every request to build an empty Response. Built on the event loop instead.
        dependencies: ClassVar[Dependencies] = {
            **base.dependencies,
            "response": Provide(sub_response, sync_to_thread=False),
        }

        @post(status_code=200)
        async def handle_http_post(self, request: Request[Any, Any, Any]) -> Response[Any]:
            started = perf_counter()
            response = sub_response()
            context = new_context()
            context.request = request
            context.response = response
            operation = _operation(request, await request.body())
            query = operation.query if operation is not None else None
            if operation is not None and operation.extensions is not None:
                try:
                    query = await persisted.document(query, operation.extensions)
                except PersistedQueryError as refusal:
                    observe_operation(
                        operation.operation_name, refusal.code, perf_counter() - started
                    )
                    return _error_response(refusal.status_code, refusal.code, refusal.message)
            if operation is not None and query is not None:
                try:
                    result = await self.schema.execute(
                        query,
                        variable_values=operation.variables,
                        context_value=context,
                        operation_name=operation.operation_name,
                        allowed_operation_types=_POST_OPERATIONS,
                        operation_extensions=operation.extensions,
                    )
                except (CannotGetOperationTypeError, InvalidOperationTypeError, MissingQueryError):
                    pass  # refused before running: Strawberry's road words the 400
                else:
                    data = await self.process_result(request, result)
                    if result.errors:
                        self._handle_errors(result.errors, data)
                    if operation.query is not None and operation.extensions is not None:
                        await self._remember(operation.query, operation.extensions)
                    name = operation.operation_name or _bound_operation()
                    outcome = _outcome(result.errors, context)
                    observe_operation(name, outcome, perf_counter() - started)
                    return _respond(_encode(data), response)
            self.temporal_response = response
            answer = await self.execute_request(request=request, context=context, root_value=None)
            # Strawberry's road (streamed answers, multipart, bodies it words the 400 for):
            # the errors ``process_result`` saw, the name ``CheckedOperations`` bound.
            outcome = (
                _outcome(request.state.get(_ERRORS), context)
                if answer.status_code == 200
                else "invalid"
            )
            name = operation.operation_name if operation is not None else None
            observe_operation(name or _bound_operation(), outcome, perf_counter() - started)
            return answer

        async def process_result(self, request: Request[Any, Any, Any], result: Any) -> Any:
            """Strawberry's road: the errors are kept for the metrics' outcome."""
            if result.errors:
                request.state[_ERRORS] = [*request.state.get(_ERRORS, ()), *result.errors]
            return await super().process_result(request, result)

        @get()
        async def handle_http_get(self, request: Request[Any, Any, Any]) -> Response[Any]:
            """Queries over GET (cacheable), and GraphiQL for a browser in development."""
            params = request.query_params
            if (
                graphiql
                and "query" not in params
                and "extensions" not in params
                and self.should_render_graphql_ide(request)
            ):
                return Response(
                    GRAPHIQL_PAGE.read_bytes(),
                    media_type=MediaType.HTML,
                    headers={"Content-Security-Policy": GRAPHIQL_CSP},
                )
            started = perf_counter()
            try:
                return await self._get(request, params, started)
            except _Refused as refusal:
                name = params.get("operationName") or _bound_operation()
                observe_operation(name, "invalid", perf_counter() - started)
                headers = {"Allow": "POST"} if refusal.status_code == 405 else None
                return _error_response(refusal.status_code, refusal.code, refusal.message, headers)
            except PersistedQueryError as refusal:
                name = params.get("operationName") or None
                observe_operation(name, refusal.code, perf_counter() - started)
                return _error_response(refusal.status_code, refusal.code, refusal.message)

        async def _get(
            self, request: Request[Any, Any, Any], params: Any, started: float
        ) -> Response[Any]:
            variables = _json_param(params, "variables")
            extensions = _json_param(params, "extensions")
            text = params.get("query") or None
            query = text if extensions is None else await persisted.document(text, extensions)
            if query is None:
                raise _Refused(400, "BAD_REQUEST", "No GraphQL query found in the request.")
            operation_name = params.get("operationName") or None
            response = sub_response()
            context = new_context()
            context.request = request
            context.response = response
            try:
                result = await self.schema.execute(
                    query,
                    variable_values=variables,
                    context_value=context,
                    operation_name=operation_name,
                    allowed_operation_types=_GET_OPERATIONS,
                    operation_extensions=extensions,
                )
            except InvalidOperationTypeError:
                raise _Refused(
                    405,
                    "METHOD_NOT_ALLOWED",
                    "Only queries run over GET: send mutations with POST.",
                ) from None
            except CannotGetOperationTypeError as error:
                raise _Refused(400, "BAD_REQUEST", error.as_http_error_reason()) from None
            data = await self.process_result(request, result)
            if result.errors:
                self._handle_errors(result.errors, data)
            if text is not None and extensions is not None:
                await self._remember(text, extensions)
            name = operation_name or _bound_operation()
            observe_operation(name, _outcome(result.errors, context), perf_counter() - started)
            answer = _respond(_encode(data), response)
            answer.headers["Cache-Control"] = _cache_control(
                request, bool(result.errors), max_age_s
            )
            return answer

        async def _remember(self, query: str, extensions: dict[str, Any]) -> None:
            """A document sent with its hash, which passed the checks: kept for the hash alone.
            (The hash was verified against the text before it ran.)"""
            hashed = isinstance(extensions.get("persistedQuery"), dict)
            if hashed and not self.schema.checks.check(self.schema._schema, query).errors:
                await persisted.remember(sha256_of(query), query)

        async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
            """Subscriptions need a bearer token in the ``connection_init`` payload."""
            if await context.viewer() is None:
                raise ConnectionRejectionError()
            return await super().on_ws_connect(context)

    return GraphQLController


def _bound_operation() -> str | None:
    """The operation's name as bound for the request's logs when its document was checked
    (``CoinsSchema.execute``, or ``CheckedOperations`` on Strawberry's extension runner)."""
    name = get_contextvars().get("graphql_operation")
    return name if isinstance(name, str) else None


def _outcome(errors: list[Any] | None, context: Context) -> str:
    """``unexpected`` (a masked failure of ours), else the first domain error code (top-level
    or in a mutation's payload), else ``invalid`` (the document was refused), else ``ok``."""
    if not errors:
        return context.outcome or "ok"
    if any(error.message == UNEXPECTED for error in errors):
        return "unexpected"
    for error in errors:
        if isinstance(error.original_error, DomainError):
            return error.original_error.code.value
    return "invalid"


def _respond(body: bytes, sub: Response[Any]) -> Response[bytes]:
    """The answer, with whatever the resolvers put on the sub-response."""
    response = Response(body, status_code=sub.status_code or 200, media_type=MediaType.JSON)
    response.headers.update(sub.headers)
    response.cookies.extend(sub.cookies)
    response.background = sub.background
    return response

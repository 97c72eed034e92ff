"""``/graphql`` over HTTP and WebSocket: Strawberry's Litestar controller, with a short road
for the request nearly every client sends.

A JSON POST of one operation (what the apps and the gift button send) is decoded, run and
encoded here, without the controller's dependency injection (a task group per request),
its generic body parsing or ``json``. Everything else takes Strawberry's own road,
unchanged: GraphiQL, GET, batches, multipart, streamed results, subscriptions, and any
body the short road cannot read, so malformed requests get Strawberry's usual answers.
"""

from __future__ import annotations

from time import perf_counter
from typing import Any, ClassVar

import msgspec
from litestar import Request, Response, post
from litestar.background_tasks import BackgroundTasks
from litestar.di import Provide
from litestar.enums import MediaType
from litestar.types import Dependencies
from strawberry.exceptions import ConnectionRejectionError, MissingQueryError
from strawberry.litestar import make_graphql_controller
from strawberry.schema import Schema
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types.graphql import OperationType
from strawberry.types.unset import UnsetType

from app.core.errors import DomainError
from app.graphql.context import Context
from app.graphql.errors import UNEXPECTED
from app.observability.metrics import observe_operation
from app.settings import Settings
from app.sign_in import SignInThrottle

_POST_OPERATIONS = OperationType.from_http("POST")
_STREAMING = ("multipart/mixed", "text/event-stream")


class _Operation(msgspec.Struct, rename="camel"):
    """One GraphQL operation as a JSON body carries it."""

    query: str
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


def graphql_controller(
    schema: Schema,
    settings: Settings,
    feed: Any,
    *,
    graphiql: bool,
    sign_in: SignInThrottle | None = None,
) -> type[Any]:
    """The controller mounted at ``/graphql``."""

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
    )

    class GraphQLController(base):  # type: ignore[valid-type,misc]
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
            if operation is not None:
                try:
                    result = await self.schema.execute(
                        operation.query,
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
                    name = operation.operation_name or _document_name(self.schema, operation)
                    outcome = _outcome(result.errors, context)
                    observe_operation(name, outcome, perf_counter() - started)
                    return _respond(_encode(data), response)
            self.temporal_response = response
            answer = await self.execute_request(request=request, context=context, root_value=None)
            # Strawberry's road (batches, multipart, bodies it words the 400 for): the status.
            outcome = (context.outcome or "ok") if answer.status_code == 200 else "invalid"
            name = operation.operation_name if operation is not None else None
            observe_operation(name, outcome, perf_counter() - started)
            return answer

        async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
            """Subscriptions need a bearer token in the ``connection_init`` payload."""
            if await context.viewer() is None:
                raise ConnectionRejectionError()
            return await super().on_ws_connect(context)

    return GraphQLController


def _document_name(schema: Schema, operation: _Operation) -> str | None:
    """The name of the document's operation when the client did not send one (the checked
    document is cached: a dictionary lookup)."""
    checks = getattr(schema, "checks", None)
    document = checks.check(schema._schema, operation.query).document if checks else None
    for definition in document.definitions if document else ():
        name = getattr(definition, "name", None)
        if getattr(definition, "operation", None) is not None:
            return name.value if name else None
    return None


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

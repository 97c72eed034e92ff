"""A request id on every request: the caller's ``X-Request-ID`` when it is well formed,
a new one otherwise; sent back in the response and bound into every log line.

A plain ASGI middleware, not Litestar's ``AbstractMiddleware`` over a ``Request``: it
costs the GraphQL path a header scan, an id and a wrapped ``send``. asgi-correlation-id
does the same on top of Starlette, a second web framework we would ship for one class.
"""

from __future__ import annotations

import random
import re

from litestar.types import ASGIApp, Message, Receive, Scope, Send
from structlog.contextvars import bind_contextvars, reset_contextvars, unbind_contextvars

HEADER = b"x-request-id"
# An id needs to be unique, not secret: a generator seeded once from the system's entropy
# costs well under a microsecond, ``uuid4`` (a getrandom call each) tens of them here.
_random = random.Random()  # noqa: S311
# What a proxy or client may hand us: bounded, and nothing a log line or header could
# be forged with (no spaces, quotes, newlines or control characters).
_WELL_FORMED = re.compile(rb"[A-Za-z0-9._:\-]{1,128}").fullmatch


def request_id_of(headers: list[tuple[bytes, bytes]] | tuple[tuple[bytes, bytes], ...]) -> str:
    """The caller's id if it is well formed, else a new random one."""
    for name, value in headers:
        if name == HEADER:
            if _WELL_FORMED(value):
                return value.decode("ascii")
            break
    return f"{_random.getrandbits(128):032x}"


class RequestIdMiddleware:
    """Binds ``request_id`` for the request's logs and returns it as ``X-Request-ID``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope["headers"])
        header = (HEADER, request_id.encode("ascii"))

        async def send_with_id(message: Message) -> None:
            if message["type"] in ("http.response.start", "websocket.accept"):
                message["headers"] = [*message.get("headers", ()), header]  # type: ignore[typeddict-unknown-key]
            await send(message)

        tokens = bind_contextvars(request_id=request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            reset_contextvars(**tokens)
            unbind_contextvars("graphql_operation")

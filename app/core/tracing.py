"""Spans around service calls, for OpenTelemetry traces when they are switched on.

Tracing is off by default (``app.observability.tracing`` turns it on from the ``OTEL_*``
variables): then a traced call costs one flag check, not a no-op span.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

from opentelemetry import trace

P = ParamSpec("P")
T = TypeVar("T")

_tracer = trace.get_tracer("coins")


class _Switch:
    on = False


switch = _Switch()


def traced(name: str) -> Callable[[Callable[P, Awaitable[T]]], Callable[P, Awaitable[T]]]:
    """Run the decorated coroutine function inside a span called ``name`` when tracing is on."""

    def decorate(function: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
        @functools.wraps(function)
        async def run(*args: P.args, **kwargs: P.kwargs) -> T:
            if not switch.on:
                return await function(*args, **kwargs)
            with _tracer.start_as_current_span(name):
                return await function(*args, **kwargs)

        return run

    return decorate

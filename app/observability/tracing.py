"""OpenTelemetry traces, off unless the standard ``OTEL_*`` variables ask for them.

On when ``OTEL_TRACES_EXPORTER`` names an exporter (``otlp`` or ``console``) or an OTLP
endpoint is set (``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``,
then ``otlp``, over HTTP/protobuf), and ``OTEL_SDK_DISABLED`` is not true. The SDK reads the
rest itself: ``OTEL_SERVICE_NAME`` (default here ``coins``), ``OTEL_RESOURCE_ATTRIBUTES``,
``OTEL_TRACES_SAMPLER``/``_ARG``, ``OTEL_BSP_*``, ``OTEL_EXPORTER_OTLP_*``.

What a request's trace holds: Litestar's OpenTelemetry middleware (the HTTP server span),
Strawberry's OpenTelemetry extension (the operation, parsing, validation and each resolver;
``CoinsSchema`` takes Strawberry's own road when tracing is on so the extension runs), the
services' spans (``app.core.tracing.traced``), and each SQL statement: asyncpg through its
instrumentation; SQLite through a shim around aiosqlite (below), since no library covers it.

No secret reaches a span: resolver arguments are not recorded (mutation inputs carry
passwords and receipts), the document's string literals are blanked, SQL is recorded
without its parameters, and no header is captured.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Generator, Mapping
from typing import Any

import aiosqlite.core
from graphql import GraphQLResolveInfo
from litestar.plugins.opentelemetry import OpenTelemetryConfig, OpenTelemetryPlugin
from opentelemetry import trace
from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.trace import SpanKind
from strawberry.extensions import LifecycleStep
from strawberry.extensions.tracing import OpenTelemetryExtension

from app.core import tracing

_OTLP_ENDPOINTS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
# Routes polled every few seconds: a span each would drown the traces that matter.
_UNTRACED = ["^/healthz$", "^/readyz$", "^/metrics$"]
_STRING = re.compile(r'"""(?:[^"\\]|\\.|"(?!""))*"""|"(?:[^"\\\n]|\\.)*"')


def requested(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the ``OTEL_*`` variables ask for traces."""
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporters = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporters:
        return exporters != "none"
    return any(env.get(name) for name in _OTLP_ENDPOINTS)


def _exporter(name: str) -> SpanExporter:
    if name == "console":
        return ConsoleSpanExporter()
    if name in ("otlp", "otlp_proto_http"):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()
    raise ValueError(f"OTEL_TRACES_EXPORTER: {name!r} is not otlp, console or none")


def configure(environ: Mapping[str, str] | None = None) -> bool:
    """Set up the SDK's tracer provider from the environment, once; whether tracing is on."""
    env = os.environ if environ is None else environ
    if not requested(env):
        return False
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        attributes = {} if env.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: "coins"}
        provider = TracerProvider(resource=Resource.create(attributes))
        names = env.get("OTEL_TRACES_EXPORTER", "").strip().lower() or "otlp"
        for name in filter(None, (n.strip() for n in names.split(","))):
            provider.add_span_processor(BatchSpanProcessor(_exporter(name)))
        trace.set_tracer_provider(provider)
    return True


def instrument() -> None:
    """Trace the SQL drivers and the services' spans (idempotent)."""
    AsyncPGInstrumentor().instrument()
    _trace_aiosqlite()
    tracing.switch.on = True


def uninstrument() -> None:
    AsyncPGInstrumentor().uninstrument()
    aiosqlite.core.Connection._execute = _AIOSQLITE_EXECUTE  # type: ignore[method-assign]
    tracing.switch.on = False


def plugin() -> OpenTelemetryPlugin:
    """Litestar's middleware: the HTTP server span of each request, health checks aside."""
    return OpenTelemetryPlugin(OpenTelemetryConfig(exclude=_UNTRACED))


# SQLite: aiosqlite runs each call on its own thread, outside the request's context, and
# calls sqlite3's ``Connection.execute``, which the sqlite3 instrumentation does not wrap;
# so the span is opened here, on the event loop, around the call aiosqlite queues.
_AIOSQLITE_EXECUTE = aiosqlite.core.Connection._execute
_SQL_CALLS = frozenset({"execute", "executemany", "executescript"})
_sqlite_tracer = trace.get_tracer("coins.sqlite")


def _trace_aiosqlite() -> None:
    if aiosqlite.core.Connection._execute is not _AIOSQLITE_EXECUTE:
        return

    @functools.wraps(_AIOSQLITE_EXECUTE)
    async def traced(self: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if getattr(fn, "__name__", "") not in _SQL_CALLS or not args:
            return await _AIOSQLITE_EXECUTE(self, fn, *args, **kwargs)
        statement = str(args[0])
        verb = statement.split(None, 1)[0].upper() if statement.strip() else "SQL"
        with _sqlite_tracer.start_as_current_span(
            verb,
            kind=SpanKind.CLIENT,
            attributes={"db.system": "sqlite", "db.statement": statement},
        ):
            return await _AIOSQLITE_EXECUTE(self, fn, *args, **kwargs)

    aiosqlite.core.Connection._execute = traced  # type: ignore[method-assign]


def _no_arguments(_: dict[str, Any], __: GraphQLResolveInfo) -> dict[str, Any]:
    return {}


def redact(document: str) -> str:
    """The document with every string literal blanked: inline values may be secrets."""
    return _STRING.sub('"***"', document)


class GraphQLTracing(OpenTelemetryExtension):
    """Strawberry's extension without arguments on resolver spans and with the document's
    string literals blanked on the operation span."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(arg_filter=_no_arguments, **kwargs)

    def on_operation(self) -> Generator[None, None, None]:
        steps = super().on_operation()
        next(steps)
        query = self.execution_context.query
        if query:
            self._span_holder[LifecycleStep.OPERATION].set_attribute("query", redact(query))
        yield
        next(steps, None)

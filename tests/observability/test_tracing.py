"""OpenTelemetry traces: off by default; on, a sendGift is one trace from the HTTP request
through the resolver and the service down to each SQL statement, and no secret is in it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from litestar.testing import AsyncTestClient
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from app.main import create_app
from app.observability import tracing
from app.settings import Settings
from tests.graphql.helpers import gql, gql_response
from tests.observability.test_metrics import SEND, sending_scene

_exporter = InMemorySpanExporter()


@pytest.fixture(scope="session")
def _provider() -> InMemorySpanExporter:
    """The SDK's global provider, once per process, writing to memory."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    provider.add_span_processor(SimpleSpanProcessor(_exporter))
    return _exporter


@pytest.fixture
def spans(_provider: InMemorySpanExporter) -> Iterator[InMemorySpanExporter]:
    _provider.clear()
    yield _provider
    tracing.uninstrument()  # what a traced app instrumented stays process-wide
    _provider.clear()


@pytest.fixture
async def traced_client(
    settings: Settings, spans: InMemorySpanExporter
) -> AsyncIterator[AsyncTestClient]:
    async with AsyncTestClient(create_app(settings, traced=True)) as client:
        yield client


def descends_from(
    span: ReadableSpan, ancestor: ReadableSpan, by_id: dict[int, ReadableSpan]
) -> bool:
    parent = span.parent
    while parent is not None:
        if parent.span_id == ancestor.context.span_id:
            return True
        above = by_id.get(parent.span_id)
        parent = above.parent if above is not None else None
    return False


async def test_a_send_gift_trace_shows_request_resolver_service_and_sql(
    traced_client: AsyncTestClient,
    settings: Settings,
    spans: InMemorySpanExporter,
) -> None:
    token, ids = await sending_scene(settings, coins=30)
    spans.clear()

    sent = await gql(traced_client, SEND, {**ids, "quantity": 1, "key": "t"}, token=token)

    assert sent["sendGift"]["errors"] == []
    found = list(spans.get_finished_spans())
    by_id = {span.context.span_id: span for span in found}
    [request] = [s for s in found if s.kind is SpanKind.SERVER and s.name.startswith("POST")]
    [resolver] = [s for s in found if s.name == "GraphQL Resolving: sendGift"]
    [service] = [s for s in found if s.name == "gifts.send_gift"]
    statements = [s for s in found if "db.statement" in (s.attributes or {})]
    under_service = [s for s in statements if descends_from(s, service, by_id)]

    # Work after the response (settlement, fraud rules) may trace on its own; the send's
    # statements are in the request's trace.
    assert {s.context.trace_id for s in (resolver, service, *under_service)} == {
        request.context.trace_id
    }
    assert descends_from(resolver, request, by_id)
    assert descends_from(service, resolver, by_id)
    assert under_service, [s.name for s in statements]
    system = "postgresql" if settings.database.is_postgres else "sqlite"
    assert {s.attributes["db.system"] for s in under_service} == {system}  # type: ignore[index]


async def test_no_secret_reaches_a_span(
    traced_client: AsyncTestClient, spans: InMemorySpanExporter
) -> None:
    inline = (
        'mutation LogIn { logIn(input: {handle: "nobody", password: "hunter2-inline"}) { token } }'
    )
    await gql_response(traced_client, inline)
    await gql_response(
        traced_client,
        "mutation SignUp($input: SignUpInput!) { signUp(input: $input) { token errors { code } } }",
        {"input": {"handle": "newbie", "password": "hunter2-variable", "birthDate": "2000-01-01"}},
    )

    found = spans.get_finished_spans()
    assert any(s.name == "GraphQL Resolving: signUp" for s in found)
    values = [str(value) for s in found for value in (s.attributes or {}).values()]
    assert not [value for value in values if "hunter2" in value]


async def test_without_tracing_nothing_is_traced(
    settings: Settings, spans: InMemorySpanExporter
) -> None:
    token, ids = await sending_scene(settings, coins=30)
    async with AsyncTestClient(create_app(settings, traced=False)) as client:
        spans.clear()
        sent = await gql(client, SEND, {**ids, "quantity": 1, "key": "u"}, token=token)

    assert sent["sendGift"]["errors"] == []
    assert spans.get_finished_spans() == ()


@pytest.mark.parametrize(
    ("environ", "on"),
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
        ({"OTEL_TRACES_EXPORTER": "console"}, True),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, False),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, False),
        ({"OTEL_SERVICE_NAME": "coins"}, False),
    ],
)
def test_the_standard_variables_switch_tracing(environ: dict[str, str], on: bool) -> None:
    assert tracing.requested(environ) is on


def test_string_literals_are_blanked_in_the_traced_document() -> None:
    document = 'mutation { logIn(input: {handle: "ann", password: "s3cr\\"et"}) { token } }'

    assert tracing.redact(document) == (
        'mutation { logIn(input: {handle: "***", password: "***"}) { token } }'
    )
    assert "s3cr" not in tracing.redact('{ a(b: """multi\nline s3cr""") }')

"""The query cost limit: lists multiplied down the tree, refused before anything runs."""

from __future__ import annotations

import functools
import logging
import re
from pathlib import Path

import pytest
from graphql import (
    GraphQLObjectType,
    GraphQLSchema,
    OperationDefinitionNode,
    get_named_type,
    is_leaf_type,
    is_list_type,
    parse,
)
from litestar.testing import AsyncTestClient
from structlog.testing import capture_logs

from app.graphql.cost import QUERY_TOO_COSTLY, operation_cost
from app.graphql.ids import IdKind
from app.graphql.schema import build_schema
from app.main import create_app
from app.settings import GraphQLSettings, Settings
from tests.factories import make_gift, make_stream, make_user
from tests.graphql.helpers import gql, gql_response

ROOT = Path(__file__).resolve().parents[2]
# The frontend contract sits in ../shared beside the repository; schema.graphql is a superset.
SHARED = (ROOT.parent / "shared", Path("/work/shared"))
CONTRACTS = [ROOT / "schema.graphql"]
CONTRACTS += [path for path in (d / "contract.graphql" for d in SHARED) if path.exists()][:1]
NESTED_GIFTS = (
    "query($id: ID!) { liveStream(id: $id) { recentGifts(first: 100) { stream {"
    " recentGifts(first: 100) { stream { recentGifts(first: 100) { id } } } } } } }"
)
PAGE = 100  # the largest page any list field allows


@functools.cache
def _schema() -> GraphQLSchema:
    """Built once: a build takes ~0.3 s, and the cost reads only the schema's types."""
    return build_schema(Settings())._schema


def cost_of(query: str) -> int:
    schema = _schema()
    document = parse(query)
    (operation,) = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    return operation_cost(schema, document, operation, PAGE)


def assert_no_error_logged(caplog: pytest.LogCaptureFixture, logs: list[dict]) -> None:
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert [e for e in logs if e.get("log_level") in ("error", "critical", "exception")] == []


async def test_nested_lists_are_refused_before_any_resolver_runs(
    client: AsyncTestClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    stream = await make_stream()
    loads: list[str] = []
    original = IdKind.load

    async def counted(self: IdKind, value: str, loader: object) -> object:
        loads.append(value)
        return await original(self, value, loader)  # type: ignore[arg-type]

    monkeypatch.setattr(IdKind, "load", counted)
    stream_id = IdKind("LiveStream").encode(stream.id)

    with capture_logs() as logs:
        body = await gql_response(client, NESTED_GIFTS, {"id": stream_id})

    assert body["data"] is None
    (error,) = body["errors"]
    assert error["extensions"]["code"] == QUERY_TOO_COSTLY
    assert "up to 1020201 objects" in error["message"]
    assert "the limit is 20000" in error["message"]
    assert loads == []
    assert_no_error_logged(caplog, logs)


async def test_the_limit_comes_from_settings(db) -> None:
    query = "{ liveStreams(first: 50) { edges { node { topGifters(first: 50) { rank } } } } }"
    tight: Settings = db.settings(graphql=GraphQLSettings(max_cost=1_000))
    async with AsyncTestClient(create_app(tight)) as client:
        refused = await gql_response(client, query)
    async with AsyncTestClient(create_app(db.settings())) as client:
        allowed = await gql(client, query)

    assert refused["errors"][0]["extensions"]["code"] == QUERY_TOO_COSTLY
    assert "the limit is 1000" in refused["errors"][0]["message"]
    assert allowed == {"liveStreams": {"edges": []}}


async def test_a_page_under_the_limit_still_answers(client: AsyncTestClient) -> None:
    host = await make_user("host")
    await make_stream(host, title="Night show")
    await make_gift()

    data = await gql(
        client,
        "query($n: Int!) { liveStreams(first: $n) { edges { node { title"
        " recentGifts(first: $n) { id } topGifters { rank } } } } }",
        {"n": 100},
    )

    assert [edge["node"]["title"] for edge in data["liveStreams"]["edges"]] == ["Night show"]


def test_a_variable_page_size_counts_the_largest_page() -> None:
    literal = "{ liveStreams(first: 3) { edges { node { id } } } }"
    variable = "query($n: Int!) { liveStreams(first: $n) { edges { node { id } } } }"
    default = "{ liveStreams { edges { node { id } } } }"

    # The connection, then `first` edges and one node on each.
    assert cost_of(literal) == 1 + 3 + 3
    assert cost_of(variable) == 1 + PAGE + PAGE
    assert cost_of(default) == 1 + 20 + 20


def test_fragments_and_inline_fragments_count_where_they_are_spread() -> None:
    plain = "{ liveStreams(first: 10) { edges { node { host { handle } recentGifts { id } } } } }"
    with_fragments = """
        query { liveStreams(first: 10) { edges { node { ...Stream } } } }
        fragment Stream on LiveStream { ... on LiveStream { host { handle } } ...Gifts }
        fragment Gifts on LiveStream { recentGifts { id } }
    """

    assert cost_of(with_fragments) == cost_of(plain) == 1 + 10 + 10 * (1 + 1 + 20)


def test_plain_lists_and_connections_multiply_what_they_hold() -> None:
    # `gifts` has no page size: it counts as the largest page.
    assert cost_of("{ gifts { id } }") == PAGE
    assert cost_of("{ me { wallet { entries(first: 5) { edges { node { id } } } } } }") == (
        1 + 1 + 1 + 5 + 5
    )
    nested = (
        "{ gifts { id } liveStreams(first: 2) { edges { node {"
        " topGifters(first: 3) { user { id } } } } } }"
    )
    assert cost_of(nested) == PAGE + 1 + 2 + 2 * (1 + 3 + 3)


def _readme_operations() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```graphql\n(.*?)```", text, re.S)


def _widest_operations(contract: str) -> list[str]:
    """For each root field of the contract, one operation that selects every field to a
    depth of four, lists at the largest page: a generous client."""
    from graphql import build_schema as build_sdl

    schema = build_sdl(contract)
    operations = []
    for keyword, root in (("query", schema.query_type), ("mutation", schema.mutation_type)):
        assert root is not None
        for name, field in root.fields.items():
            variables = [f"${a}: {arg.type}" for a, arg in field.args.items()]
            args = ", ".join(f"{a}: ${a}" for a in field.args)
            header = f"({', '.join(variables)})" if variables else ""
            call = f"{name}({args})" if args else name
            body = _selection(get_named_type(field.type), 3)
            operations.append(f"{keyword}{header} {{ {call} {body} }}")
    return operations


def _selection(named: object, depth: int) -> str:
    if is_leaf_type(named) or not isinstance(named, GraphQLObjectType):
        return ""
    parts = []
    for name, field in named.fields.items():
        inner = get_named_type(field.type)
        if is_leaf_type(inner):
            parts.append(name)
        elif depth > 0 and isinstance(inner, GraphQLObjectType):
            required = [
                a
                for a, arg in field.args.items()
                if arg.default_value is None and str(arg.type).endswith("!")
            ]
            if required:
                continue
            parts.append(f"{name} {_selection(inner, depth - 1)}")
        elif is_list_type(field.type):
            continue
    return "{ " + " ".join(parts) + " }" if parts else "{ __typename }"


def test_every_readme_and_contract_operation_stays_well_under_the_limit() -> None:
    settings = Settings()
    operations = _readme_operations()
    for contract in CONTRACTS:
        operations += _widest_operations(contract.read_text())
    schema = build_schema(settings)

    assert len(operations) > 30
    for operation in operations:
        checked = schema.checks.check(schema._schema, operation)
        assert [e.message for e in checked.errors if "could return" in e.message] == [], operation
        assert cost_of(operation) <= settings.graphql.max_cost // 4, operation

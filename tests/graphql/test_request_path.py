"""What a GraphQL request costs around its resolvers: no parsing or validation twice, no thread."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest
import strawberry.schema.schema
from graphql.language.parser import Parser
from litestar.concurrency import get_asyncio_executor, set_asyncio_executor
from litestar.testing import AsyncTestClient

from tests.graphql.helpers import gql


def count_calls(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> list[None]:
    """Replace ``owner.name`` by a wrapper that records each call; the list grows per call."""
    calls: list[None] = []
    original: Callable[..., Any] = getattr(owner, name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(None)
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, counted)
    return calls


async def test_a_repeated_query_is_parsed_and_validated_once(
    client: AsyncTestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The caches outlive a test, so the query text is one no other test sends.
    query = f"query Rates{uuid.uuid4().hex} {{ economy {{ creatorShare minimumPayoutDiamonds }} }}"
    parses = count_calls(monkeypatch, Parser, "parse_document")
    validations = count_calls(monkeypatch, strawberry.schema.schema, "validate")

    first = await gql(client, query)
    second = await gql(client, query)

    assert first == second
    assert (len(parses), len(validations)) == (1, 1)


class CountingExecutor(ThreadPoolExecutor):
    def __init__(self) -> None:
        super().__init__(max_workers=1)
        self.submitted: list[str] = []

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        self.submitted.append(repr(args[0] if args else fn))
        return super().submit(fn, *args, **kwargs)


@pytest.fixture
def litestar_threads() -> Iterator[CountingExecutor]:
    """Litestar runs every sync dependency and handler on this executor (``sync_to_thread``)."""
    previous = get_asyncio_executor()
    executor = CountingExecutor()
    set_asyncio_executor(executor)
    yield executor
    set_asyncio_executor(previous)
    executor.shutdown()


async def test_a_graphql_request_never_hops_to_a_thread(
    client: AsyncTestClient, litestar_threads: CountingExecutor
) -> None:
    await gql(client, "{ economy { creatorShare } }")
    await gql(client, 'mutation { logIn(input: {handle: "nobody", password: "x"}) { token } }')

    assert litestar_threads.submitted == []


async def test_a_plain_json_post_skips_the_dependency_injection(
    client: AsyncTestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from litestar._kwargs.kwargs_model import KwargsModel

    resolved = count_calls(monkeypatch, KwargsModel, "resolve_dependencies")

    data = await gql(client, "{ economy { minimumPayoutDiamonds } }")

    assert data["economy"]["minimumPayoutDiamonds"] > 0
    assert resolved == []


@pytest.mark.parametrize(
    ("body", "content_type", "status", "words"),
    [
        (b"{not json", "application/json", 400, "Unable to parse request body as JSON"),
        (b'{"variables": {}}', "application/json", 400, "No GraphQL query found"),
        (b'{"query": 7}', "application/json", 400, "must be a string"),
        (b'{"query": "{ x }", "variables": [1]}', "application/json", 400, "must be an object"),
        (b"query=%7B%7D", "application/x-www-form-urlencoded", 400, "Unsupported content type"),
        (b'[{"query": "{ economy { creatorShare } }"}]', "application/json", 400, "Batching"),
    ],
)
async def test_what_the_short_road_cannot_read_gets_strawberrys_answer(
    client: AsyncTestClient, body: bytes, content_type: str, status: int, words: str
) -> None:
    response = await client.post("/graphql", content=body, headers={"content-type": content_type})

    assert response.status_code == status
    assert words.lower() in response.text.lower()


async def test_both_roads_give_the_same_answer(client: AsyncTestClient) -> None:
    query = "query Rates { economy { creatorShare minimumPayoutDiamonds } nope: economy { x } }"
    short = await client.post("/graphql", json={"query": query, "operationName": "Rates"})
    # An Accept the short road leaves to Strawberry (incremental delivery) takes the long one.
    long = await client.post(
        "/graphql",
        json={"query": query, "operationName": "Rates"},
        headers={"accept": "application/json, multipart/mixed;q=0.1"},
    )

    assert short.status_code == long.status_code == 200
    assert short.json() == long.json()
    assert short.json()["errors"][0]["message"].startswith("Cannot query field 'x'")


async def test_an_answered_request_leaves_nothing_for_the_cycle_collector(
    client: AsyncTestClient,
) -> None:
    """Garbage in cycles waits for a full collection, a pause of tens of milliseconds
    under load; an answered request must be freed by reference counting alone."""
    import gc

    from graphql.execution.executor import Executor

    query = 'mutation { logIn(input: {handle: "nobody", password: "x"}) { token } }'
    await gql(client, "{ economy { creatorShare } }")
    gc.collect()
    gc.disable()
    try:
        for _ in range(3):
            await gql(client, "{ economy { creatorShare minimumPayoutDiamonds } }")
            await gql(client, query)
        executions = [o for o in gc.get_objects() if isinstance(o, Executor)]
    finally:
        gc.enable()

    assert executions == []

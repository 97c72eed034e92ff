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

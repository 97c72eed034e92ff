"""What a GraphQL request costs before any resolver runs: parsing and validation are cached."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
import strawberry.schema.schema
from graphql.language.parser import Parser
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

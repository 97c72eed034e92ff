"""The API's hardening over HTTP: masked errors, alias and depth limits, production mode."""

from __future__ import annotations

import pytest
from litestar.testing import AsyncTestClient

from app import ledger
from app.main import create_app
from app.settings import Settings
from app.users.tokens import issue_token
from tests.factories import make_user
from tests.graphql.helpers import gql_response

ENTRIES = (
    "query($first: Int!) { me { wallet { entries(first: $first) { edges { node { id } } } } } }"
)


async def test_unexpected_errors_are_masked(
    client: AsyncTestClient, settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = await make_user("alice")

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("connection string postgres://secret@db")

    monkeypatch.setattr(ledger, "list_entries", broken)
    body = await gql_response(
        client, ENTRIES, {"first": 5}, token=issue_token(alice.id, settings.auth)
    )

    assert body["errors"][0]["message"] == "Unexpected error."
    assert "secret" not in str(body)


async def test_alias_flood_is_refused(client: AsyncTestClient) -> None:
    query = "{ " + " ".join(f"a{i}: economy {{ minimumPayoutDiamonds }}" for i in range(40)) + " }"

    body = await gql_response(client, query)

    assert body["data"] is None
    assert "aliases" in body["errors"][0]["message"].lower()


async def test_a_query_nested_too_deep_is_refused(client: AsyncTestClient, settings) -> None:
    depth = settings.graphql.max_depth
    nested = "handle"
    for _ in range(depth // 2 + 1):
        nested = f"currentLiveStream {{ host {{ {nested} }} }}"

    body = await gql_response(client, f"{{ me {{ {nested} }} }}")

    assert body["data"] is None
    assert "exceeds maximum operation depth" in body["errors"][0]["message"]


async def test_production_hides_graphiql_introspection_and_suggestions(db) -> None:
    production: Settings = db.settings(env="production")
    async with AsyncTestClient(create_app(production)) as client:
        page = await client.get("/graphql", headers={"Accept": "text/html"})
        introspection = await gql_response(client, "{ __schema { types { name } } }")
        typo = await gql_response(client, "{ economi { creatorShare } }")

    assert page.status_code != 200 or "graphiql" not in page.text.lower()
    assert introspection.get("data") is None
    assert "Did you mean" not in typo["errors"][0]["message"]


async def test_development_serves_graphiql(client: AsyncTestClient) -> None:
    page = await client.get("/graphql", headers={"Accept": "text/html"})

    assert page.status_code == 200
    assert "graphiql" in page.text.lower()

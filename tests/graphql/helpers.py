"""Talking to the API the way a client does: POST /graphql over HTTP."""

from __future__ import annotations

from typing import Any

from litestar.testing import AsyncTestClient


async def gql_response(
    client: AsyncTestClient,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    token: str | None = None,
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )
    assert response.status_code == 200, response.text
    return response.json()


async def gql(
    client: AsyncTestClient,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    token: str | None = None,
) -> dict[str, Any]:
    """The ``data`` of a response that must have no top-level errors."""
    body = await gql_response(client, query, variables, token=token)
    assert "errors" not in body, body["errors"]
    return body["data"]

"""CORS: browsers on the configured origins may call /graphql; others get no Allow headers."""

from __future__ import annotations

import pytest
from litestar.exceptions import WebSocketDisconnect
from litestar.testing import AsyncTestClient

from app.main import create_app
from app.settings import HTTPSettings
from tests.conftest import Database

APP = "https://app.example.com"
PREFLIGHT = {
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization, content-type",
}


@pytest.fixture
async def cors_client(db: Database):
    settings = db.settings(http=HTTPSettings(cors_origins=(APP,)))
    async with AsyncTestClient(create_app(settings)) as test_client:
        yield test_client


async def test_a_preflight_from_an_allowed_origin_is_allowed(cors_client: AsyncTestClient) -> None:
    answer = await cors_client.options("/graphql", headers={"Origin": APP, **PREFLIGHT})

    assert answer.status_code == 204
    assert answer.headers["access-control-allow-origin"] == APP
    assert "POST" in answer.headers["access-control-allow-methods"]
    allowed_headers = answer.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed_headers
    assert "content-type" in allowed_headers
    assert "access-control-allow-credentials" not in answer.headers


async def test_a_preflight_from_another_origin_gets_no_allow_headers(
    cors_client: AsyncTestClient,
) -> None:
    answer = await cors_client.options(
        "/graphql", headers={"Origin": "https://evil.example.com", **PREFLIGHT}
    )

    assert "access-control-allow-origin" not in answer.headers
    assert "access-control-allow-methods" not in answer.headers


async def test_an_allowed_origin_reads_the_answer_and_its_request_id(
    cors_client: AsyncTestClient,
) -> None:
    answer = await cors_client.post(
        "/graphql", json={"query": "{ economy { creatorShare } }"}, headers={"Origin": APP}
    )
    other = await cors_client.post(
        "/graphql",
        json={"query": "{ economy { creatorShare } }"},
        headers={"Origin": "https://evil.example.com"},
    )

    assert answer.headers["access-control-allow-origin"] == APP
    assert "x-request-id" in answer.headers["access-control-expose-headers"].lower()
    assert "access-control-allow-origin" not in other.headers


async def test_production_allows_no_origin_unless_configured(db: Database) -> None:
    async with AsyncTestClient(create_app(db.settings(env="production"))) as production:
        answer = await production.options(
            "/graphql", headers={"Origin": "http://localhost:3000", **PREFLIGHT}
        )

    assert "access-control-allow-origin" not in answer.headers


async def _handshake(client: AsyncTestClient, origin: str) -> dict[str, object]:
    """Open the subscriptions' websocket from a page on ``origin``; the server's first word."""
    ws = await client.websocket_connect(
        "/graphql", subprotocols=["graphql-transport-ws"], headers={"Origin": origin}
    )
    ws.__enter__()
    try:
        ws.send_json({"type": "connection_init", "payload": {"Authorization": "Bearer nope"}})
        try:
            ws.receive(timeout=10)
        except WebSocketDisconnect as closed:
            return {"closed": closed.code}
        return {"open": True}
    finally:
        ws.__exit__(None, None, None)


async def test_the_websocket_takes_pages_on_allowed_origins_only(
    cors_client: AsyncTestClient,
) -> None:
    # 4403: the app heard the connection_init and refused the bad token. A page on another
    # origin is refused at the handshake, before the app hears anything.
    assert await _handshake(cors_client, APP) == {"closed": 4403}
    with pytest.raises(WebSocketDisconnect):
        await _handshake(cors_client, "https://evil.example.com")

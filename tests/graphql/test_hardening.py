"""The API's hardening over HTTP: masked errors, alias and depth limits, production mode."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from app import ledger
from app.core.ids import encode_id
from app.main import create_app
from app.settings import GraphQLSettings, Settings
from app.users.tokens import issue_token
from tests.factories import coins_of, make_gift, make_stream, make_user
from tests.graphql.helpers import gql_response


async def asgi_post(
    app: Any, path: str, chunks: list[bytes], headers: dict[str, str]
) -> tuple[int, bytes]:
    """A POST whose body arrives in chunks without a content-length, as a chunked upload
    reaches the app through uvicorn (the test client sends one announced body)."""
    messages = [
        {"type": "http.request", "body": chunk, "more_body": n < len(chunks) - 1}
        for n, chunk in enumerate(chunks)
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    await app(scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, body


SEND = (
    "mutation Send($stream: ID!, $gift: ID!, $key: String!) { sendGift(input: {streamId: "
    "$stream, giftId: $gift, quantity: 1, idempotencyKey: $key}) { giftEvent { id } "
    "errors { code } } }"
)
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


async def test_production_masks_unexpected_errors(db, monkeypatch: pytest.MonkeyPatch) -> None:
    production: Settings = db.settings(env="production")
    alice = await make_user("alice")

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("connection string postgres://secret@db")

    monkeypatch.setattr(ledger, "list_entries", broken)
    async with AsyncTestClient(create_app(production)) as client:
        body = await gql_response(
            client, ENTRIES, {"first": 5}, token=issue_token(alice.id, production.auth)
        )

    assert body["errors"][0]["message"] == "Unexpected error."
    assert "secret" not in str(body)
    assert "RuntimeError" not in str(body)


async def test_production_refuses_every_introspection_entry(db) -> None:
    production: Settings = db.settings(env="production")
    async with AsyncTestClient(create_app(production)) as client:
        by_type = await gql_response(client, '{ __type(name: "Query") { fields { name } } }')
        nested = await gql_response(client, "{ economy { __schema { queryType { name } } } }")
        typename = await gql_response(client, "{ economy { __typename creatorShare } }")

    assert by_type.get("data") is None
    assert "introspection" in by_type["errors"][0]["message"].lower()
    assert nested.get("data") is None
    assert typename["data"]["economy"]["__typename"] == "EconomyRates"  # not introspection


async def test_production_words_misspelt_names_without_suggestions(db) -> None:
    """Strawberry strips suggestions for fields only; arguments, enum values and types
    would still name parts of the schema."""
    production: Settings = db.settings(env="production")
    misspelt = {
        "idd": '{ liveStream(idd: "x") { id } }',
        "SANDBX": 'mutation { purchaseCoins(input: {packageId: "x", provider: SANDBX, '
        'receipt: "r", idempotencyKey: "k"}) { errors { code } } }',
        "Quer": "{ ... on Quer { economy { creatorShare } } }",
        "economi": "{ economi { creatorShare } }",
    }
    async with AsyncTestClient(create_app(production)) as client:
        answers = {name: await gql_response(client, query) for name, query in misspelt.items()}

    for name, body in answers.items():
        messages = " ".join(error["message"] for error in body["errors"])
        assert "Did you mean" not in messages
        assert name in messages  # the error still names what is wrong


async def test_a_body_over_the_limit_is_refused_with_413_and_moves_nothing(db) -> None:
    production: Settings = db.settings(env="production")
    alice = await make_user("alice", coins=10)
    stream, gift = await make_stream(), await make_gift(coins=1)
    token = issue_token(alice.id, production.auth)
    limit = production.graphql.max_body_bytes
    variables = {
        "stream": encode_id("LiveStream", stream.id),
        "gift": encode_id("Gift", gift.id),
        "key": "padded",
        "padding": "x" * limit,  # unused variable: the body alone is too large
    }
    headers = {"Authorization": f"Bearer {token}"}
    async with AsyncTestClient(create_app(production)) as client:
        announced = await client.post(
            "/graphql", json={"query": SEND, "variables": variables}, headers=headers
        )

        # No content-length: the limit counts the bytes as they arrive.
        streamed = await asgi_post(
            client.app,
            "/graphql",
            [b'{"query": "{ economy { creatorShare } }", "variables": {"p": "']
            + [b"x" * 1024] * (limit // 1024 + 1)
            + [b'"}}'],
            headers={**headers, "content-type": "application/json"},
        )

    assert announced.status_code == 413
    assert streamed[0] == 413
    for body in (announced.json(), json.loads(streamed[1])):
        assert f"larger than {limit} bytes" in body["errors"][0]["message"]
        assert body["errors"][0]["extensions"]["code"] == "REQUEST_TOO_LARGE"
    assert await coins_of(alice.id) == 10


async def test_the_body_limit_is_a_setting_and_a_body_within_it_is_served(db) -> None:
    small: Settings = db.settings(graphql=GraphQLSettings(max_body_bytes=200))
    query = "{ economy { creatorShare } }"
    async with AsyncTestClient(create_app(small)) as client:
        served = await client.post("/graphql", json={"query": query})
        refused = await client.post("/graphql", json={"query": query + " " * 200})

    assert served.status_code == 200
    assert served.json()["data"]["economy"]["creatorShare"]
    assert refused.status_code == 413
    assert "larger than 200 bytes" in refused.json()["errors"][0]["message"]


async def test_a_websocket_message_over_the_limit_closes_the_socket(db) -> None:
    """``coins serve`` bounds a WebSocket message like a body: a ``subscribe`` is a GraphQL
    request too, and uvicorn alone would read 16 MB of it."""
    import uvicorn
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosedError

    from app.cli import serve_options

    production: Settings = db.settings(env="production")
    viewer = await make_user("viewer")
    config = uvicorn.Config(create_app(production), host="127.0.0.1", port=0, log_level="warning")
    for name, value in serve_options(production).items():
        setattr(config, name, value)
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    try:
        for _ in range(1000):  # up to 10 s
            if server.started:
                break
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        async with connect(
            f"ws://127.0.0.1:{port}/graphql", subprotocols=["graphql-transport-ws"]
        ) as socket:
            init = {"authorization": f"Bearer {issue_token(viewer.id, production.auth)}"}
            await socket.send(json.dumps({"type": "connection_init", "payload": init}))
            assert "connection_ack" in await socket.recv()
            padding = " " * production.graphql.max_body_bytes
            payload = {"query": 'subscription { giftSent(streamId: "x") { id } }' + padding}
            await socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
            with pytest.raises(ConnectionClosedError) as closed:
                await socket.recv()
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1009  # message too big
    finally:
        server.should_exit = True
        await serving

"""What the logs say: one JSON line per request from uvicorn, with its request id and
GraphQL operation, and never a token, password, receipt or request body.

The README's walk-through runs against a real uvicorn server (its access log is uvicorn's
own) while every log line is captured: the structlog handler's output and the process's
stdout and stderr.
"""

from __future__ import annotations

import io
import json
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from litestar.testing import AsyncTestClient

from app.core.ids import encode_id
from app.core.logging import formatter
from app.main import create_app
from app.seed import DEMO_PASSWORD, seed
from app.settings import Settings
from app.users.tokens import issue_token
from tests.browser.conftest import _free_port
from tests.conftest import Database, run_sync
from tests.factories import PASSWORD, make_stream, make_user

SIGN_UP_PASSWORD = "a long password"
WRONG_PASSWORD = "not-the-password-1234"
RECEIPT = "demo-receipt-1"

LOG_IN = """mutation LogIn($handle: String!, $password: String!) {
  logIn(input: {handle: $handle, password: $password}) { token errors { code } }
}"""
ME = """query Me {
  me { handle wallet { coins entries(first: 10) { edges { node { kind amount } } } } }
}"""
SIGN_UP = """mutation {
  signUp(input: {handle: "new.viewer", password: "a long password", birthDate: "2000-04-30"}) {
    token user { handle } errors { code }
  }
}"""
SHOP = """query Shop {
  coinPackages(platform: WEB) { id coins }
  liveStreams(first: 5) { edges { node { id } } }
  gifts { id slug }
}"""
BUY = """mutation Buy($package: ID!) {
  purchaseCoins(input: {packageId: $package, provider: SANDBOX, receipt: "demo-receipt-1",
                        idempotencyKey: "buy-1"}) {
    wallet { coins } errors { code }
  }
}"""
SEND = """mutation Send($stream: ID!, $gift: ID!) {
  sendGift(input: {streamId: $stream, giftId: $gift, quantity: 5, idempotencyKey: "rose-1"}) {
    wallet { coins } errors { code }
  }
}"""


class Lines(logging.Handler):
    """Every record, rendered as production renders it."""

    def __init__(self) -> None:
        super().__init__()
        self.stream = io.StringIO()
        self.setFormatter(formatter(production=True))

    def emit(self, record: logging.LogRecord) -> None:
        self.stream.write(self.format(record) + "\n")

    def json(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stream.getvalue().splitlines() if line]


@pytest.fixture
def lines() -> Iterator[Lines]:
    handler = Lines()
    root = logging.getLogger()
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)


@pytest.fixture
def quiet_client() -> Iterator[None]:
    """The test's own HTTP client logs each URL it calls; the server's lines are the subject."""
    client_logger = logging.getLogger("httpx")
    level = client_logger.level
    client_logger.setLevel(logging.WARNING)
    yield
    client_logger.setLevel(level)


def _serve(settings: Settings) -> Iterator[str]:
    """The app behind a real uvicorn, its logging left to the app (as ``coins serve``)."""
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings),
            host="127.0.0.1",
            port=port,
            log_config=None,
            log_level="info",
            access_log=True,
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the test server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def production_server(db: Database) -> Iterator[str]:
    run_sync(seed())
    # Production renders JSON; sandbox receipts are switched on for the walk-through.
    yield from _serve(db.settings(env="production", sandbox_payments=True))


def test_the_readme_walk_through_logs_no_secret(
    production_server: str, lines: Lines, quiet_client: None, capfd: pytest.CaptureFixture[str]
) -> None:
    with httpx.Client(base_url=production_server, timeout=15) as http:

        def gql(query: str, variables: dict[str, Any] | None = None, **headers: str) -> Any:
            answer = http.post(
                "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
            )
            assert answer.status_code == 200, answer.text
            return answer

        logged_in = gql(LOG_IN, {"handle": "viewer", "password": DEMO_PASSWORD})
        token = logged_in.json()["data"]["logIn"]["token"]
        bearer = {"Authorization": f"Bearer {token}"}
        gql(LOG_IN, {"handle": "viewer", "password": WRONG_PASSWORD})
        gql(ME, **bearer)
        signed_up = gql(SIGN_UP).json()["data"]["signUp"]
        shop = gql(SHOP, **bearer).json()["data"]
        package = next(p["id"] for p in shop["coinPackages"])
        stream = shop["liveStreams"]["edges"][0]["node"]["id"]
        rose = next(g["id"] for g in shop["gifts"] if g["slug"] == "rose")
        bought = gql(BUY, {"package": package}, **bearer).json()["data"]["purchaseCoins"]
        sent = gql(SEND, {"stream": stream, "gift": rose}, **bearer).json()["data"]["sendGift"]
        # Over GET: a query with the token, and a logIn (refused) with the password in the URL.
        read = http.get("/graphql", params={"query": ME}, headers=bearer)
        refused = http.get(
            "/graphql",
            params={
                "query": LOG_IN,
                "variables": json.dumps({"handle": "viewer", "password": DEMO_PASSWORD}),
            },
        )
        http.get("/healthz", headers={"X-Request-ID": "walk-through-1"})

    assert (bought["errors"], sent["errors"], signed_up["errors"]) == ([], [], [])
    assert (read.status_code, refused.status_code) == (200, 405)
    captured = capfd.readouterr()
    everything = "\n".join([lines.stream.getvalue(), captured.out, captured.err])
    for secret in (
        token,
        signed_up["token"],
        DEMO_PASSWORD,
        SIGN_UP_PASSWORD,
        WRONG_PASSWORD,
        RECEIPT,
        "idempotencyKey",
    ):
        assert secret not in everything
    # One access line per request, as JSON fields, with the id the client saw.
    requests = [line for line in lines.json() if line.get("event") == "request"]
    assert len(requests) == 10
    by_id = {line["request_id"]: line for line in requests}
    assert by_id["walk-through-1"]["path"] == "/healthz"
    assert by_id[logged_in.headers["x-request-id"]]["graphql_operation"] == "LogIn"
    assert by_id[read.headers["x-request-id"]]["graphql_operation"] == "Me"
    assert {line["method"] for line in requests} == {"GET", "POST"}
    assert {line["logger"] for line in requests} == {"uvicorn.access"}


@pytest.mark.parametrize("production", [True, False])
async def test_an_unexpected_error_logs_its_traceback_without_variables_or_locals(
    db: Database, monkeypatch: pytest.MonkeyPatch, production: bool
) -> None:
    from app.users import service

    async def broken(user_id: int) -> None:
        raise RuntimeError("the database went away")

    await make_user("grace")
    # The password is a local of ``log_in``'s frame when ``get_user`` fails under it.
    monkeypatch.setattr(service, "get_user", broken)
    settings = db.settings(env="production" if production else "test")
    async with AsyncTestClient(create_app(settings)) as client:
        handler = Lines()
        handler.setFormatter(formatter(production))
        logging.getLogger().addHandler(handler)
        try:
            answer = await client.post(
                "/graphql",
                json={"query": LOG_IN, "variables": {"handle": "grace", "password": PASSWORD}},
                headers={"X-Request-ID": "broken-1"},
            )
        finally:
            logging.getLogger().removeHandler(handler)

    assert answer.json()["errors"][0]["message"] == "Unexpected error."
    logged = handler.stream.getvalue()
    assert "the database went away" in logged
    assert "Traceback" in logged
    assert "broken-1" in logged
    assert PASSWORD not in logged


async def test_a_services_log_line_carries_the_request_id_and_operation(db: Database) -> None:
    """Not only the access line: what a service logs while it serves the request."""
    from app.core.money import Money
    from app.purchases.codes import Platform
    from app.purchases.packages import create_package

    buyer = await make_user("ivy")
    # No conversion rate for this currency: the purchase goes through, and its limits
    # check says so in the log (``purchase_limits.no_rate``).
    package = await create_package(platform=Platform.WEB, coins=100, price=Money(500, "ISK"))
    settings = db.settings(sandbox_payments=True)
    handler = Lines()
    async with AsyncTestClient(create_app(settings)) as client:
        logging.getLogger().addHandler(handler)
        try:
            answer = await client.post(
                "/graphql",
                json={"query": BUY, "variables": {"package": encode_id("CoinPackage", package.id)}},
                headers={
                    "Authorization": f"Bearer {issue_token(buyer.id, settings.auth)}",
                    "X-Request-ID": "buy-ivy-1",
                },
            )
        finally:
            logging.getLogger().removeHandler(handler)

    assert answer.json()["data"]["purchaseCoins"]["errors"] == []
    [line] = [line for line in handler.json() if line["event"] == "purchase_limits.no_rate"]
    assert (line["request_id"], line["graphql_operation"]) == ("buy-ivy-1", "Buy")


WATCH = """subscription Watch($stream: ID!) { giftSent(streamId: $stream) { quantity } }"""


async def test_a_subscriptions_log_lines_carry_the_sockets_request_id_and_operation(
    db: Database,
) -> None:
    """The websocket road: the handshake answers with the id, and what is logged while a
    subscription runs (here its unexpected failure) carries it and the operation's name."""
    from websockets.asyncio.client import connect

    from tests.streams.live import receive, served

    viewer, stream = await make_user("walt"), await make_stream()
    settings = db.settings()
    token = issue_token(viewer.id, settings.auth)
    handler = Lines()
    async with served(settings) as (app, address):

        def broken(*_: object, **__: object) -> None:
            raise RuntimeError("the feed broke")

        app.state.feed.subscribe = broken
        logging.getLogger().addHandler(handler)
        try:
            async with connect(
                f"ws://{address}/graphql",
                subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
                additional_headers={"X-Request-ID": "socket-1"},
            ) as ws:
                handshake_id = ws.response.headers["X-Request-ID"]
                init = {"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}
                await ws.send(json.dumps(init))
                assert (await receive(ws))["type"] == "connection_ack"
                variables = {"stream": encode_id("LiveStream", stream.id)}
                payload = {"query": WATCH, "variables": variables}
                await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
                failed = await receive(ws)
        finally:
            logging.getLogger().removeHandler(handler)

    assert handshake_id == "socket-1"
    assert failed["type"] in ("next", "error"), failed
    [line] = [line for line in handler.json() if "the feed broke" in line.get("exception", "")]
    assert (line["request_id"], line["graphql_operation"]) == ("socket-1", "Watch")

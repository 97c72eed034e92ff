"""Fuzzing: hypothesis-graphql writes queries and mutations from ``schema.graphql`` and the
app answers them, signed in and not: never a 500, never ``Unexpected error.``, never an
ERROR log line, and the ledger's invariants hold afterwards."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, mutations, nodes, queries
from litestar.testing import AsyncTestClient
from structlog.testing import capture_logs

from app.core.ids import encode_opaque
from app.core.money import Money
from app.integrity import verify_all
from app.main import create_app
from app.purchases.codes import Platform
from app.purchases.packages import create_package
from app.settings import Settings
from app.users.tokens import issue_token
from tests.conftest import Database, run_sync
from tests.factories import make_gift, make_stream, make_user

SCHEMA = (Path(__file__).resolve().parents[2] / "schema.graphql").read_text()
KINDS = (
    "User",
    "LiveStream",
    "Gift",
    "GiftEvent",
    "CoinPackage",
    "CoinPurchase",
    "Payout",
    "PartnerOffer",
    "Redemption",
    "LedgerEntry",
)
# Ids of rows that may well exist, so mutations get past "not found" and move value; and
# anything else, which must be refused as a client error.
ids = st.one_of(
    st.builds(encode_opaque, st.sampled_from(KINDS), st.integers(1, 8)),
    st.builds(encode_opaque, st.sampled_from(KINDS), st.integers(2**62, 2**70)),
    st.text(max_size=20),
).map(nodes.String)
# Valid operations mostly, and some with one violation of the schema (Mode.NEGATIVE).
operations = st.one_of(
    queries(SCHEMA, custom_scalars={"ID": ids}),
    mutations(SCHEMA, custom_scalars={"ID": ids}),
    mutations(SCHEMA, custom_scalars={"ID": ids}),
    queries(SCHEMA, custom_scalars={"ID": ids}, mode=Mode.NEGATIVE),
    mutations(SCHEMA, custom_scalars={"ID": ids}, mode=Mode.NEGATIVE),
)


@dataclass
class World:
    settings: Settings
    token: str


async def _world(settings: Settings) -> World:
    viewer = await make_user("viewer", coins=5_000)
    host = await make_user("host")
    await make_stream(host, title="Fuzzed live")
    for coins in (1, 5, 100):
        await make_gift(coins=coins)
    await create_package(platform=Platform.WEB, coins=70, price=Money(99, "USD"))
    return World(settings, issue_token(viewer.id, settings.auth))


async def _run(world: World, batch: list[tuple[str, bool]]) -> None:
    async with AsyncTestClient(create_app(world.settings)) as client:
        for query, signed_in in batch:
            headers = {"Authorization": f"Bearer {world.token}"} if signed_in else {}
            response = await client.post("/graphql", json={"query": query}, headers=headers)
            assert response.status_code < 500, (query, response.text)
            assert "Unexpected error." not in response.text, (query, response.text)


@pytest.fixture
def world(db: Database) -> World:
    return run_sync(_world(db.settings()))


@settings(
    max_examples=10,  # ~50 operations a database: make test stays fast
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batch=st.lists(st.tuples(operations, st.booleans()), min_size=1, max_size=8))
def test_generated_operations_get_no_server_error(
    world: World, caplog: pytest.LogCaptureFixture, batch: list[tuple[str, bool]]
) -> None:
    caplog.clear()
    with capture_logs() as logs:
        run_sync(_run(world, batch))

    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert [e for e in logs if e.get("log_level") in ("error", "critical", "exception")] == []
    report = run_sync(verify_all())
    assert report.ok, report.breaches

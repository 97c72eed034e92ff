"""/metrics: who may read it, and that what users do shows up in it, counted once.

Metrics live as long as the process (other tests count too), so each test compares a
scrape after its scenario with one before.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from litestar.testing import AsyncTestClient
from piccolo.engine.postgres import PostgresEngine

from app.core.clock import set_clock
from app.core.ids import encode_id
from app.core.money import Money
from app.core.transactions import RetryTransaction, TransactionConflict, in_transaction
from app.gifts.settlement import backlog
from app.main import create_app
from app.observability.metrics import RuntimeCollector, _OperationNames
from app.payouts import service as payouts
from app.purchases.codes import Platform
from app.purchases.packages import create_package
from app.settings import FeedSettings, ObservabilitySettings, Settings
from app.streams.feed import InProcessFeed
from app.users.tokens import issue_token
from tests.conftest import Database
from tests.factories import give_diamonds, make_gift, make_stream, make_user, send, settled
from tests.graphql.helpers import gql, gql_response
from tests.observability.scrape import TOKEN, scrape

SEND = """
mutation Send($stream: ID!, $gift: ID!, $quantity: Int!, $key: String!) {
  sendGift(input: {streamId: $stream, giftId: $gift, quantity: $quantity, idempotencyKey: $key}) {
    giftEvent { coins } errors { code }
  }
}
"""
BUY = """
mutation Buy($package: ID!, $receipt: String!, $key: String!) {
  purchaseCoins(input: {packageId: $package, provider: SANDBOX, receipt: $receipt,
                        idempotencyKey: $key}) {
    purchase { coins } errors { code }
  }
}
"""


@pytest.fixture
def settings(db: Database) -> Settings:
    return db.settings(observability=ObservabilitySettings(metrics_token=TOKEN))


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[AsyncTestClient]:
    async with AsyncTestClient(create_app(settings)) as test_client:
        yield test_client


# Who may read it ------------------------------------------------------------------------


async def test_metrics_need_the_token_when_one_is_set(client: AsyncTestClient) -> None:
    missing = await client.get("/metrics")
    wrong = await client.get("/metrics", headers={"Authorization": "Bearer guess"})
    right = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})

    assert (missing.status_code, wrong.status_code, right.status_code) == (401, 401, 200)
    assert "coins_graphql_requests" not in missing.text + wrong.text
    assert right.headers["content-type"].startswith("text/plain")


async def test_production_without_a_token_serves_no_metrics(db: Database) -> None:
    settings = db.settings(env="production")
    async with AsyncTestClient(create_app(settings)) as client:
        response = await client.get("/metrics")

    assert response.status_code == 404


async def test_development_without_a_token_serves_metrics_openly(db: Database) -> None:
    async with AsyncTestClient(create_app(db.settings())) as client:
        await client.get("/healthz")
        response = await client.get("/metrics")

    assert response.status_code == 200
    assert 'coins_http_requests_total{app_name="coins",method="GET",path="/healthz"' in (
        response.text
    )


# What is counted ------------------------------------------------------------------------


async def sending_scene(settings: Settings, coins: int) -> tuple[str, dict[str, str]]:
    viewer = await make_user(coins=coins)
    stream, gift = await make_stream(), await make_gift(coins=10)
    ids = {"stream": encode_id("LiveStream", stream.id), "gift": encode_id("Gift", gift.id)}
    return issue_token(viewer.id, settings.auth), ids


async def test_graphql_operations_are_counted_by_name_and_outcome(
    client: AsyncTestClient, settings: Settings
) -> None:
    token, ids = await sending_scene(settings, coins=30)
    before = await scrape(client)

    sent = await gql(client, SEND, {**ids, "quantity": 2, "key": "a"}, token=token)
    again = await gql(client, SEND, {**ids, "quantity": 2, "key": "a"}, token=token)
    broke = await gql(client, SEND, {**ids, "quantity": 3, "key": "b"}, token=token)
    refused = await gql_response(client, "query Typo { nope }")
    after = await scrape(client)

    assert sent["sendGift"]["errors"] == []
    assert again == sent
    assert broke["sendGift"]["errors"] == [{"code": "INSUFFICIENT_FUNDS"}]
    assert refused["errors"]

    def delta(name: str, **labels: str) -> float:
        return after.value(name, **labels) - before.value(name, **labels)

    requests = "coins_graphql_requests_total"
    assert delta(requests, operation="Send", outcome="ok") == 2
    assert delta(requests, operation="Send", outcome="INSUFFICIENT_FUNDS") == 1
    assert delta(requests, operation="Typo", outcome="invalid") == 1
    latency = "coins_graphql_request_duration_seconds_count"
    assert delta(latency, operation="Send", outcome="ok") == 2
    # Replays move nothing and count no gift.
    assert delta("coins_gifts_sent_total") == 1
    assert delta("coins_gift_coins_total") == 20
    # Counted once: per operation, not again by the HTTP middleware.
    assert (
        delta(
            "coins_http_requests_total",
            method="POST",
            path="/graphql",
            status_code="200",
            app_name="coins",
        )
        == 0
    )


async def test_queries_over_get_are_counted_by_name_and_outcome(client: AsyncTestClient) -> None:
    catalog = "query Catalog { gifts { slug } }"
    unknown = {"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}}
    before = await scrape(client)

    read = await client.get("/graphql", params={"query": catalog})
    typo = await client.get("/graphql", params={"query": "query Typo { nope }"})
    mutation = await client.get("/graphql", params={"query": "mutation Out { logOut }"})
    miss = await client.get("/graphql", params={"extensions": json.dumps(unknown)})
    posted_miss = await client.post("/graphql", json={"extensions": unknown})
    after = await scrape(client)

    assert (read.status_code, typo.status_code, mutation.status_code) == (200, 200, 405)
    assert miss.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"

    def delta(name: str, **labels: str) -> float:
        return after.value(name, **labels) - before.value(name, **labels)

    requests = "coins_graphql_requests_total"
    assert delta(requests, operation="Catalog", outcome="ok") == 1
    assert delta(requests, operation="Typo", outcome="invalid") == 1
    assert delta(requests, operation="Out", outcome="invalid") == 1
    assert posted_miss.json() == miss.json()
    assert delta(requests, operation="anonymous", outcome="PERSISTED_QUERY_NOT_FOUND") == 2
    latency = "coins_graphql_request_duration_seconds_count"
    assert delta(latency, operation="Catalog", outcome="ok") == 1


async def test_strawberrys_road_counts_what_went_wrong(
    client: AsyncTestClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client that accepts a streamed answer takes Strawberry's road (not the short one):
    its errors count the same."""
    from app.gifts import service as gifts

    token, ids = await sending_scene(settings, coins=30)

    async def broken(**_: object) -> None:
        raise RuntimeError("the disk is on fire")

    monkeypatch.setattr(gifts, "send_gift", broken)
    streamed = {"Accept": "multipart/mixed, application/json"}
    before = await scrape(client)

    typo = await client.post("/graphql", json={"query": "query Typo { nope }"}, headers=streamed)
    failed = await client.post(
        "/graphql",
        json={"query": SEND, "variables": {**ids, "quantity": 1, "key": "s"}},
        headers={**streamed, "Authorization": f"Bearer {token}"},
    )
    after = await scrape(client)

    assert typo.json()["errors"]
    assert failed.json()["errors"][0]["message"] == "Unexpected error."

    def delta(**labels: str) -> float:
        name = "coins_graphql_requests_total"
        return after.value(name, **labels) - before.value(name, **labels)

    assert delta(operation="Typo", outcome="invalid") == 1
    assert delta(operation="Typo", outcome="ok") == 0
    assert delta(operation="Send", outcome="unexpected") == 1


async def test_an_unexpected_failure_is_counted_as_such(
    client: AsyncTestClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.gifts import service as gifts

    token, ids = await sending_scene(settings, coins=30)

    async def broken(**_: object) -> None:
        raise RuntimeError("the disk is on fire")

    monkeypatch.setattr(gifts, "send_gift", broken)
    before = await scrape(client)

    body = await gql_response(client, SEND, {**ids, "quantity": 1, "key": "c"}, token=token)
    after = await scrape(client)

    assert body["errors"][0]["message"] == "Unexpected error."
    name, labels = "coins_graphql_requests_total", {"operation": "Send", "outcome": "unexpected"}
    assert after.value(name, **labels) - before.value(name, **labels) == 1
    assert after.value("coins_gifts_sent_total") == before.value("coins_gifts_sent_total")


async def test_coins_sold_are_counted_by_currency_and_provider_once(
    client: AsyncTestClient, settings: Settings
) -> None:
    buyer = await make_user()
    package = await create_package(
        platform=Platform.WEB, coins=700, bonus_coins=50, price=Money(699, "EUR")
    )
    token = issue_token(buyer.id, settings.auth)
    variables = {"package": encode_id("CoinPackage", package.id), "receipt": "r-1", "key": "k"}
    before = await scrape(client)

    first = await gql(client, BUY, variables, token=token)
    replay = await gql(client, BUY, variables, token=token)
    after = await scrape(client)

    assert first == replay
    assert first["purchaseCoins"]["errors"] == []
    labels = {"currency": "EUR", "provider": "SANDBOX"}
    sold = "coins_coins_sold_total"
    assert after.value(sold, **labels) - before.value(sold, **labels) == 750
    bought = "coins_purchases_total"
    assert after.value(bought, **labels) - before.value(bought, **labels) == 1


async def test_payouts_are_counted_by_status(client: AsyncTestClient, settings: Settings) -> None:
    creator = await make_user()
    await give_diamonds(creator.id, 5_000)
    before = await scrape(client)

    payout = await payouts.request_payout(creator.id, 2_000, "p-1", economy=settings.economy)
    await payouts.cancel_payout(creator.id, payout.id)
    await payouts.cancel_payout(creator.id, payout.id)  # cancelling again changes nothing
    after = await scrape(client)

    def delta(status: str) -> float:
        return after.value("coins_payouts_total", status=status) - before.value(
            "coins_payouts_total", status=status
        )

    assert (delta("PENDING"), delta("CANCELLED"), delta("PAID")) == (1, 1, 0)


async def test_transaction_retries_and_conflicts_are_counted(
    client: AsyncTestClient, settings: Settings
) -> None:
    attempts: list[int] = []

    async def flaky() -> str:
        attempts.append(1)
        if len(attempts) == 1:
            raise RetryTransaction
        return "done"

    async def hopeless() -> None:
        raise RetryTransaction

    before = await scrape(client)
    assert await in_transaction(flaky) == "done"
    with pytest.raises(TransactionConflict):
        await in_transaction(hopeless)
    after = await scrape(client)

    retries = "coins_transaction_retries_total"
    labels = {"reason": "RetryTransaction"}
    expected = 1 + settings.database.retry_attempts - 1
    assert after.value(retries, **labels) - before.value(retries, **labels) == expected
    conflicts = "coins_transaction_conflicts_total"
    assert after.value(conflicts) - before.value(conflicts) == 1


# Live state, read at scrape time --------------------------------------------------------


async def test_the_pool_gauges_show_connections_in_use_and_waiters(
    postgres_url: str,
) -> None:
    engine = PostgresEngine(config={"dsn": postgres_url})
    await engine.start_connection_pool(min_size=1, max_size=1)
    collector = RuntimeCollector()
    collector.engine = engine
    pool = engine.pool
    assert pool is not None

    async def take() -> object:
        return await pool.acquire()

    try:
        held = await take()
        waiter = asyncio.create_task(take())
        await asyncio.sleep(0.05)
        busy = gauges(collector)
        await pool.release(held)
        await pool.release(await waiter)
        calm = gauges(collector)
    finally:
        pool.terminate()

    assert busy == {
        "coins_db_pool_connections_in_use": 1,
        "coins_db_pool_connections_idle": 0,
        "coins_db_pool_connections_max": 1,
        "coins_db_pool_waiting": 1,
    }
    assert (calm["coins_db_pool_connections_in_use"], calm["coins_db_pool_waiting"]) == (0, 0)


async def test_the_feed_gauges_count_this_process_subscribers() -> None:
    feed = InProcessFeed(FeedSettings())
    collector = RuntimeCollector()
    collector.feed = feed
    first, second = feed.subscribe(1, user_id=7), feed.subscribe(2, user_id=8)
    waiting = [asyncio.ensure_future(anext(first)), asyncio.ensure_future(anext(second))]
    await asyncio.sleep(0)
    open_ = gauges(collector)
    for task in waiting:
        task.cancel()
    await asyncio.gather(*waiting, return_exceptions=True)
    await first.aclose()
    await second.aclose()

    assert open_ == {"coins_feed_subscribers": 2, "coins_feed_dropped_events": 0}
    assert gauges(collector)["coins_feed_subscribers"] == 0


async def test_the_app_exposes_its_feed_gauges(client: AsyncTestClient) -> None:
    assert "coins_feed_subscribers" in (await scrape(client)).names()


async def test_the_settlement_gauges_show_the_queue_and_how_long_its_oldest_gift_waited(
    db: Database,
) -> None:
    start = datetime(2026, 11, 26, 12, tzinfo=UTC)
    set_clock(lambda: start)
    try:
        stream, viewer, rose = await make_stream(), await make_user(coins=10), await make_gift()
        await send(viewer, stream, rose)
        set_clock(lambda: start + timedelta(seconds=30))
        await send(viewer, stream, rose)
        set_clock(lambda: start + timedelta(seconds=90))
        collector = RuntimeCollector()
        collector.settlement = await backlog()  # nobody settles in this process
        waiting = gauges(collector)
        await settled()
        collector.settlement = await backlog()
        done = gauges(collector)
    finally:
        set_clock(None)

    assert waiting["coins_settlement_queued_gifts"] == 2
    assert waiting["coins_settlement_oldest_seconds"] == 90
    assert (done["coins_settlement_queued_gifts"], done["coins_settlement_oldest_seconds"]) == (
        0,
        0,
    )


async def test_the_app_samples_the_settlement_queue_for_its_gauges(
    client: AsyncTestClient,
) -> None:
    wanted = {"coins_settlement_queued_gifts", "coins_settlement_oldest_seconds"}
    async with asyncio.timeout(10):  # sampled as the app starts, then every 5 s
        while not wanted <= (await scrape(client)).names():  # noqa: ASYNC110 - a scrape
            await asyncio.sleep(0.05)


def gauges(collector: RuntimeCollector) -> dict[str, float]:
    return {family.name: family.samples[0].value for family in collector.collect()}


def test_a_client_cannot_grow_the_operation_names_without_bound() -> None:
    names = _OperationNames(limit=3)

    labels = [names.label(f"Op{n}") for n in range(5)]

    assert labels == ["Op0", "Op1", "Op2", "other", "other"]
    assert names.label("Op1") == "Op1"
    assert names.label(None) == "anonymous"
    assert names.label("x" * 500) == "other"
    assert names.label("Drop tables; --") == "other"

"""A failing database: backends killed under load, a COMMIT whose answer is lost.

PostgreSQL only, with real connections: the app runs in this event loop with its own pool
of 4 (``app.lifespan()`` and an ASGI client), while a separate connection terminates the
app's backends with ``pg_terminate_backend``, as a restart, a failover or an idle-killer
would. What a user sees is asserted; the ledger is verified after each test (``db``).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
import pytest
from litestar import Litestar

from app import ledger
from app.core import database
from app.core.database import PooledTransaction, close_pool, current_engine, open_pool
from app.core.errors import DomainError, ErrorCode
from app.core.ids import encode_id
from app.gifts.settlement import Settler, exact_balances, settle_all
from app.gifts.tables import GiftCredit, GiftEvent
from app.integrity import verify_all
from app.ledger import AccountCode, Currency, TransferKind
from app.ledger.tables import Operation
from app.main import create_app
from app.settings import DatabaseSettings, Settings
from app.streams import service as streams
from app.streams.tables import LiveStream
from app.users.tokens import issue_token
from tests.conftest import Database
from tests.factories import coins_of, diamonds_of, make_gift, make_stream, make_user, send

pytestmark = pytest.mark.parametrize("db", ["postgres"], indirect=True)

POOL_SIZE = 4
SEND = """
mutation Send($stream: ID!, $gift: ID!, $key: String!) {
  sendGift(input: {streamId: $stream, giftId: $gift, quantity: 1, idempotencyKey: $key}) {
    giftEvent { id coins } wallet { coins } errors { code message }
  }
}
"""
ME = "query { me { wallet { coins diamonds } } }"
_keys = itertools.count(1)


def pooled_settings(db: Database) -> Settings:
    return db.settings(database=DatabaseSettings(url=db.url, pool_max_size=POOL_SIZE))


@asynccontextmanager
async def running(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan (pool, settler, background) in this event loop."""
    async with app.lifespan():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://coins") as client:
            yield client


async def post(client: httpx.AsyncClient, query: str, variables: dict[str, Any], token: str) -> Any:
    response = await client.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.text
    return response.json()


async def kill_backends(admin: asyncpg.Connection) -> int:
    """Terminate every other backend of this database (the app's); how many."""
    return await admin.fetchval(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )


async def assert_pool_whole() -> None:
    """Every slot can be taken at once and each answers: none is held by a dead connection.
    (A leaked slot makes the last acquire wait forever: the timeout only detects a hang.)"""
    pool = current_engine().pool
    assert pool is not None

    async def use_slot() -> int:
        async with pool.acquire() as connection:
            await asyncio.sleep(0.05)  # hold it while the others are taken
            return await connection.fetchval("SELECT 1")

    async with asyncio.timeout(10):
        assert await asyncio.gather(*(use_slot() for _ in range(POOL_SIZE))) == [1] * POOL_SIZE


async def test_killed_backends_under_load_leave_the_pool_whole(db: Database) -> None:
    settings = pooled_settings(db)
    app = create_app(settings)
    host = await make_user()
    stream = await make_stream(host)
    rose = await make_gift("rose", coins=1)
    viewers = [await make_user(coins=1_000) for _ in range(8)]
    tokens = {v.id: issue_token(v.id, settings.auth) for v in viewers}
    admin = await asyncpg.connect(db.url)
    answers: list[tuple[int, str, Any]] = []

    async def send_one(viewer_id: int) -> None:
        key = f"kill-{next(_keys)}"
        variables = {
            "stream": encode_id("LiveStream", stream.id),
            "gift": encode_id("Gift", rose.id),
            "key": key,
        }
        answers.append((viewer_id, key, await post(client, SEND, variables, tokens[viewer_id])))

    async def read_one(viewer_id: int) -> None:
        answers.append((viewer_id, "", await post(client, ME, {}, tokens[viewer_id])))

    try:
        async with running(app) as client:
            killed = 0
            for _ in range(4):
                burst = [send_one(v.id) for v in viewers for _ in range(3)]
                burst += [read_one(v.id) for v in viewers]
                requests = asyncio.gather(*burst)
                for _ in range(2):
                    await asyncio.sleep(0.02)
                    killed += await kill_backends(admin)
                await requests
            assert killed > 0

            assert [a for a in answers if "Unexpected error." in str(a[2])] == []
            assert all("errors" not in body for _, _, body in answers), answers
            sent = [(v, k, body["data"]["sendGift"]) for v, k, body in answers if k]
            assert [s for s in sent if s[2]["errors"]] == []
            await assert_pool_whole()

            # The next requests succeed, on every slot.
            for v in viewers:
                await send_one(v.id)
            assert all(not body["data"]["sendGift"]["errors"] for _, k, body in answers if k)
    finally:
        await admin.close()

    # Every committed gift moved value exactly once.
    keys = [k for _, k, _ in answers if k]
    await settle_all()
    assert await GiftEvent.count() == len(keys)
    assert await Operation.count().where(Operation.idempotency_key.is_in(keys)) == len(keys)
    for viewer in viewers:
        sent_by = sum(1 for v, k, _ in answers if k and v == viewer.id)
        assert await coins_of(viewer.id) == 1_000 - sent_by
    assert await diamonds_of(host.id) == len(keys)
    report = await verify_all()
    assert report.ok, report.breaches


# A COMMIT in flight when the connection dies ---------------------------------------------


@asynccontextmanager
async def pool_of_four() -> AsyncIterator[None]:
    engine = current_engine()
    await open_pool(engine, POOL_SIZE)
    try:
        yield
    finally:
        await close_pool(engine)


def lose_answer_of_next_commit(monkeypatch: pytest.MonkeyPatch, *, reach_server: bool) -> list[int]:
    """The next COMMIT's connection dies in flight: after the server committed it
    (``reach_server``, the answer lost on the way back) or before it got there."""
    original = PooledTransaction.commit
    fired: list[int] = []

    async def commit(self: PooledTransaction) -> None:
        task = asyncio.current_task()
        if fired or (task is not None and task.get_name() == "gift-settler"):
            return await original(self)  # only the request's commit, not the app's settler
        fired.append(1)
        if reach_server:
            await original(self)
        self.connection.terminate()
        raise asyncpg.ConnectionDoesNotExistError(
            "connection was closed in the middle of operation"
        )

    monkeypatch.setattr(PooledTransaction, "commit", commit)
    return fired


async def credit(user_id: int, key: str) -> ledger.Outcome[None]:
    return await ledger.transfer(
        TransferKind.PURCHASE,
        debit_account_id=await ledger.system_account_id(AccountCode.COIN_ISSUANCE, user_id),
        credit_account_id=await ledger.user_account_id(user_id, Currency.COIN),
        amount=70,
        user_id=user_id,
        idempotency_key=key,
    )


@pytest.mark.parametrize("reach_server", [True, False], ids=["committed", "not-committed"])
async def test_keyed_operation_whose_commit_answer_is_lost_is_resolved_by_its_key(
    db: Database, monkeypatch: pytest.MonkeyPatch, reach_server: bool
) -> None:
    viewer = await make_user()
    async with pool_of_four():
        fired = lose_answer_of_next_commit(monkeypatch, reach_server=reach_server)
        outcome = await credit(viewer.id, "buy-1")
        assert fired  # the commit really lost its connection
        assert outcome.replayed is reach_server  # found the committed result, or did it once
        assert await coins_of(viewer.id) == 70
        assert await Operation.count().where(Operation.idempotency_key == "buy-1") == 1
        again = await credit(viewer.id, "buy-1")
        assert (again.replayed, again.operation_id) == (True, outcome.operation_id)
        assert await coins_of(viewer.id) == 70
        await assert_pool_whole()


async def test_unkeyed_operation_whose_commit_answer_is_lost_is_not_guessed(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    host = await make_user()
    async with pool_of_four():
        lose_answer_of_next_commit(monkeypatch, reach_server=True)
        with pytest.raises(DomainError) as refused:
            await streams.start_stream(host.id, "Maybe live")
        # Not run again blindly, not "Unexpected error.": a code the client can act on.
        assert refused.value.code is ErrorCode.SERVICE_UNAVAILABLE
        assert "may or may not" in refused.value.message
        assert await LiveStream.count().where(LiveStream.host_id == host.id) == 1
        await assert_pool_whole()


async def test_gift_statement_whose_answer_is_lost_is_resolved_by_its_key(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The one-statement gift commits on its own: a lost answer is resent with its key."""
    viewer = await make_user(coins=10)
    host = await make_user()
    stream = await make_stream(host)
    rose = await make_gift("rose", coins=1)
    original, original_statement = database._on_a_connection, database.run_statement
    lost: list[int] = []
    armed: list[int] = []

    async def statement(engine: Any, sql: str, args: Any, **kwargs: Any) -> Any:
        if "gifts_send" in sql:
            armed.append(1)
        return await original_statement(engine, sql, args, **kwargs)

    async def run_then_die(engine: Any, run: Any) -> Any:
        async def on(connection: asyncpg.Connection) -> Any:
            rows = await run(connection)  # the statement committed on the server
            if armed and not lost:
                lost.append(1)
                connection.terminate()
                raise asyncpg.ConnectionDoesNotExistError("connection was closed")
            return rows

        return await original(engine, on)

    async with pool_of_four():
        monkeypatch.setattr(database, "_on_a_connection", run_then_die)
        monkeypatch.setattr(database, "run_statement", statement)
        sent = await send(viewer, stream, rose, key="rose-1")
        assert lost
        assert sent.replayed  # the committed gift, found by its key
        assert await GiftEvent.count() == 1
        assert await coins_of(viewer.id) == 9
        assert (await send(viewer, stream, rose, key="rose-1")).event.id == sent.event.id
        assert await coins_of(viewer.id) == 9
        await assert_pool_whole()
    assert await diamonds_of(host.id) == 1


# Background loops ------------------------------------------------------------------------


async def test_settler_keeps_settling_after_its_connection_is_killed(db: Database) -> None:
    viewer = await make_user(coins=10)
    host = await make_user()
    stream = await make_stream(host)
    rose = await make_gift("rose", coins=1)
    admin = await asyncpg.connect(db.url)
    settler = Settler(idle_s=0.01, gather_s=0.0)
    try:
        async with pool_of_four():
            settler.start()
            for n in range(5):
                await send(viewer, stream, rose, key=f"bg-{n}")
                await kill_backends(admin)
            async with asyncio.timeout(30):  # a stuck settler would never empty the queue
                while await GiftCredit.count():  # noqa: ASYNC110 (the queue is a table)
                    await asyncio.sleep(0.05)
            await settler.stop()
            await assert_pool_whole()
    finally:
        await admin.close()
    assert await diamonds_of(host.id) == 5


# Reads outside a business transaction ----------------------------------------------------


async def test_reads_and_snapshots_survive_killed_backends(db: Database) -> None:
    """Every pooled connection is killed while idle: the next plain query and the next
    snapshot read move to fresh connections instead of failing."""
    viewer = await make_user(coins=25)
    admin = await asyncpg.connect(db.url)
    try:
        async with pool_of_four():
            await assert_pool_whole()  # open all four
            for _ in range(3):
                assert await kill_backends(admin) > 0
                assert await coins_of(viewer.id) == 25  # a plain SELECT
                assert (await exact_balances([viewer.id]))[viewer.id][Currency.COIN] == 25
            await assert_pool_whole()
    finally:
        await admin.close()


async def test_snapshot_whose_commit_answer_is_lost_keeps_what_it_read(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    viewer = await make_user(coins=25)
    async with pool_of_four():
        fired = lose_answer_of_next_commit(monkeypatch, reach_server=True)
        assert (await exact_balances([viewer.id]))[viewer.id][Currency.COIN] == 25
        assert fired
        await assert_pool_whole()


async def test_client_sees_service_unavailable_when_an_unkeyed_commit_is_lost(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over the API: a stable, retryable code in the payload, never "Unexpected error."."""
    settings = pooled_settings(db)
    app = create_app(settings)
    host = await make_user()
    token = issue_token(host.id, settings.auth)
    start = """mutation { startLiveStream(input: {title: "Maybe live"}) {
        liveStream { id } errors { code message } } }"""
    async with running(app) as client:
        lose_answer_of_next_commit(monkeypatch, reach_server=True)
        body = await post(client, start, {}, token)
        assert "errors" not in body, body
        payload = body["data"]["startLiveStream"]
        assert payload["liveStream"] is None
        assert [e["code"] for e in payload["errors"]] == ["SERVICE_UNAVAILABLE"]
        # It did commit; asked again, the client learns so instead of a second stream.
        again = (await post(client, start, {}, token))["data"]["startLiveStream"]
        assert [e["code"] for e in again["errors"]] == ["ALREADY_LIVE"]
        await assert_pool_whole()
    assert await LiveStream.count().where(LiveStream.host_id == host.id) == 1

"""``/healthz`` and ``/readyz``: what a load balancer sees, also when a dependency hangs."""

from __future__ import annotations

import time

from litestar import Litestar
from litestar.testing import AsyncTestClient
from piccolo.apps.migrations.tables import Migration

from app.core.database import create_engine, use_engine
from app.main import create_app
from app.observability.health import health_controller
from app.settings import DatabaseSettings, ObservabilitySettings
from tests.conftest import Database

# Far above the 0.5 s each check may take, far below what a hang would take: the point is
# that /readyz answers, not how fast.
GENEROUS_S = 5.0


def health_only(database_url: str, **overrides: object) -> Litestar:
    """The health routes alone, on a database that misbehaves: the whole app would also
    wait for it at shutdown (the settler's last settlement), which is not what is tested."""
    settings = Database("postgres", "").settings(
        database=DatabaseSettings(url=database_url, pool_max_size=0), **overrides
    )
    use_engine(create_engine(settings.database))
    return Litestar(route_handlers=[health_controller(settings)])


async def test_healthz_answers_without_asking_the_database(hung_server: str) -> None:
    async with AsyncTestClient(health_only(f"postgresql://coins@{hung_server}/coins")) as client:
        response = await client.get("/healthz")

    assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def test_the_app_serves_healthz(client: AsyncTestClient) -> None:
    response = await client.get("/healthz")

    assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def test_readyz_is_ok_when_database_and_migrations_are(client: AsyncTestClient) -> None:
    response = await client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "migrations": "ok"},
    }
    assert response.headers["cache-control"] == "no-store"


async def test_readyz_checks_redis_when_configured(db: Database) -> None:
    settings = db.settings(redis_url="redis://127.0.0.1:6379/15")
    async with AsyncTestClient(create_app(settings)) as client:
        response = await client.get("/readyz")

    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "migrations": "ok", "redis": "ok"}


async def test_a_hung_redis_makes_readyz_answer_503_in_time(db: Database, hung_server: str) -> None:
    settings = db.settings(redis_url=f"redis://{hung_server}/0")
    async with AsyncTestClient(create_app(settings)) as client:
        started = time.monotonic()
        response = await client.get("/readyz")
        elapsed = time.monotonic() - started

    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "checks": {"database": "ok", "migrations": "ok", "redis": "timeout"},
    }
    assert elapsed < GENEROUS_S


async def test_a_dead_redis_is_named(db: Database, closed_port: str) -> None:
    settings = db.settings(redis_url=f"redis://{closed_port}/0")
    async with AsyncTestClient(create_app(settings)) as client:
        response = await client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["checks"]["redis"] == "failed"


async def test_a_hung_database_makes_readyz_answer_503_in_time(hung_server: str) -> None:
    app = health_only(
        f"postgresql://coins@{hung_server}/coins",
        observability=ObservabilitySettings(readiness_timeout_ms=300),
    )
    async with AsyncTestClient(app) as client:
        started = time.monotonic()
        response = await client.get("/readyz")
        elapsed = time.monotonic() - started
        health = await client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "timeout", "migrations": "timeout"}
    assert elapsed < GENEROUS_S
    assert health.status_code == 200


async def test_a_pending_migration_makes_readyz_answer_503(
    db: Database, client: AsyncTestClient
) -> None:
    [last] = await Migration.select().order_by(Migration.id, ascending=False).limit(1)
    await Migration.delete().where(Migration.id == last["id"])
    try:
        response = await client.get("/readyz")
    finally:
        await Migration.insert(
            Migration(name=last["name"], app_name=last["app_name"], ran_on=last["ran_on"])
        )

    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "ok", "migrations": "1 pending migrations"}


async def test_readyz_does_not_leak_connection_errors(closed_port: str) -> None:
    app = health_only(f"postgresql://secret_user:secret_password@{closed_port}/coins")
    async with AsyncTestClient(app) as client:
        response = await client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "failed", "migrations": "failed"}
    assert "secret" not in response.text

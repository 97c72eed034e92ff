"""``/healthz`` (the process answers) and ``/readyz`` (it can serve: database reachable,
migrations applied, Redis reachable when configured).

A load balancer polls these every few seconds and must get an answer even when a
dependency hangs: each check runs under its own timeout and all run concurrently, so
``/readyz`` answers within about one timeout whatever hangs, naming each check that failed.
No check says why beyond ``timeout``, ``failed`` or ``N pending migrations``: the
endpoints are public, and connection errors can carry hosts and user names.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis
import structlog
from litestar import Controller, get
from litestar.response import Response
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE
from piccolo.apps.migrations.commands.base import BaseMigrationManager
from piccolo.apps.migrations.tables import Migration
from piccolo.conf.apps import Finder
from piccolo.querystring import QueryString

from app.core.database import current_engine
from app.settings import Settings

log = structlog.get_logger(__name__)

Check = Callable[[], Awaitable[str | None]]  # None when fine, else what is wrong


class _PendingMigrations:
    """The migration ids the code ships, read once (importing them is not free)."""

    def __init__(self) -> None:
        self._known: set[tuple[str, str]] | None = None

    def known(self) -> set[tuple[str, str]]:
        if self._known is None:
            manager = BaseMigrationManager()
            self._known = {
                (config.app_name, migration_id)
                for config in Finder().get_app_configs()
                for migration_id in manager.get_migration_modules(config.migrations_folder_path)
            }
        return self._known

    async def pending(self) -> int:
        known = self.known()
        ran = await Migration.select(Migration.app_name, Migration.name)
        return len(known - {(row["app_name"], row["name"]) for row in ran})


_migrations = _PendingMigrations()


async def database_reachable() -> str | None:
    await current_engine().run_querystring(QueryString("SELECT 1"))
    return None


async def migrations_applied() -> str | None:
    pending = await _migrations.pending()
    return f"{pending} pending migrations" if pending else None


def redis_reachable(url: str, timeout_s: float) -> Check:
    async def check() -> str | None:
        client = aioredis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
        try:
            await client.ping()
        finally:
            await client.aclose()
        return None

    return check


async def _run(name: str, check: Check, timeout_s: float) -> tuple[str, str]:
    try:
        async with asyncio.timeout(timeout_s):
            problem = await check()
    except TimeoutError:
        problem = "timeout"
    except Exception as error:  # whatever a dependency raises, the answer is "not ready"
        log.warning("readyz.check_failed", check=name, error=type(error).__name__)
        problem = "failed"
    return name, problem or "ok"


async def readiness(checks: dict[str, Check], timeout_s: float) -> dict[str, str]:
    """Each check's verdict (``ok`` or what is wrong), all run at once, each bounded."""
    results = await asyncio.gather(*(_run(n, c, timeout_s) for n, c in checks.items()))
    return dict(results)


def checks_for(settings: Settings) -> dict[str, Check]:
    timeout_s = settings.observability.readiness_timeout_ms / 1000
    checks: dict[str, Check] = {
        "database": database_reachable,
        "migrations": migrations_applied,
    }
    if settings.redis_url:
        checks["redis"] = redis_reachable(settings.redis_url, timeout_s)
    return checks


def health_controller(settings: Settings) -> type[Controller]:
    checks = checks_for(settings)
    timeout_s = settings.observability.readiness_timeout_ms / 1000

    class HealthController(Controller):
        include_in_schema = False

        @get("/healthz", sync_to_thread=False)
        def healthz(self) -> dict[str, str]:
            """The process answers; nothing else is asked (a restart would not help)."""
            return {"status": "ok"}

        @get("/readyz")
        async def readyz(self) -> Response[dict[str, Any]]:
            """Whether this instance should get traffic: 503 naming each failed check."""
            verdicts = await readiness(checks, timeout_s)
            ready = all(v == "ok" for v in verdicts.values())
            return Response(
                {"status": "ok" if ready else "unavailable", "checks": verdicts},
                status_code=HTTP_200_OK if ready else HTTP_503_SERVICE_UNAVAILABLE,
                headers={"Cache-Control": "no-store"},
            )

    return HealthController

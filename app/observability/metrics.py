"""``/metrics`` for Prometheus: Litestar's plugin for HTTP requests, the service's own metrics
(``app.core.metrics``) counted from the edges, and live state read at scrape time.

- HTTP: ``PrometheusConfig``'s middleware counts every other request by method, route
  template and status (``coins_http_*``).
- GraphQL: the controller times each operation and calls ``observe_operation`` with its name
  and outcome; names are the client's, so only the first ``MAX_OPERATION_NAMES`` distinct
  ones get their own label (the rest are ``other``): a client cannot grow the series.
- Business: the after-commit events (``GiftSent``, ``CoinsSold``, ``PayoutRequested``,
  ``PayoutStatusChanged``) are counted by the handlers ``subscribe`` registers, so a
  rolled-back or replayed operation is never counted.
- Live state: ``RuntimeCollector`` reads the database pool and the live feed when scraped,
  and the settlement queue as ``watch_settlement`` last sampled it.

Access: ``COINS_METRICS_TOKEN`` set, a scrape must send it as a bearer token (401 without);
unset, ``/metrics`` is open in development and test and not served in production (404).
"""

from __future__ import annotations

import asyncio
import hmac
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

import structlog
from litestar import Request, get
from litestar.exceptions import NotAuthorizedException
from litestar.plugins.prometheus import PrometheusConfig, PrometheusController
from litestar.response import Response
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from app.core import metrics
from app.core.events import bus
from app.gifts import settlement
from app.gifts.service import GiftSent
from app.payouts.codes import PayoutStatus
from app.payouts.service import PayoutRequested, PayoutStatusChanged
from app.purchases.buying import CoinsSold
from app.settings import Settings

MAX_OPERATION_NAMES = 200
OTHER = "other"
ANONYMOUS = "anonymous"


class _OperationNames:
    """The label for a client's operation name: itself while few are known, else ``other``."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._known: set[str] = set()
        self._lock = threading.Lock()

    def label(self, name: str | None) -> str:
        if not name:
            return ANONYMOUS
        if name in self._known:
            return name
        if len(name) > 100 or not name.replace("_", "").isalnum():
            return OTHER
        with self._lock:
            if len(self._known) >= self._limit:
                return OTHER
            self._known.add(name)
        return name


operation_names = _OperationNames(MAX_OPERATION_NAMES)


_series: dict[tuple[str, str], tuple[Any, Any]] = {}


def observe_operation(name: str | None, outcome: str, duration_s: float) -> None:
    """One GraphQL operation answered over HTTP. The labelled series are kept (bounded by
    the names and the outcomes): ``labels()`` takes a lock and builds keys on every call."""
    key = (operation_names.label(name), outcome)
    series = _series.get(key)
    if series is None:
        series = _series.setdefault(
            key, (metrics.GRAPHQL_REQUESTS.labels(*key), metrics.GRAPHQL_LATENCY.labels(*key))
        )
    series[0].inc()
    series[1].observe(duration_s)


class RuntimeCollector(Collector):
    """Gauges of what is live in this process, read at scrape time from the app's engine and
    feed (the app running in this process sets them at start-up)."""

    def __init__(self) -> None:
        self.engine: Engine | None = None
        self.feed: Any = None
        # (gifts queued, seconds the oldest has waited), sampled by ``watch_settlement``.
        self.settlement: tuple[int, float] | None = None

    def collect(self) -> Iterator[GaugeMetricFamily]:
        pool = self.engine.pool if isinstance(self.engine, PostgresEngine) else None
        if pool is not None:
            size, idle = pool.get_size(), pool.get_idle_size()
            yield GaugeMetricFamily(
                "coins_db_pool_connections_in_use", "Pool connections lent out.", size - idle
            )
            yield GaugeMetricFamily(
                "coins_db_pool_connections_idle", "Open pool connections not lent out.", idle
            )
            yield GaugeMetricFamily(
                "coins_db_pool_connections_max",
                "The most connections the pool opens.",
                pool.get_max_size(),
            )
            yield GaugeMetricFamily(
                "coins_db_pool_waiting",
                "Tasks waiting for a pool connection (all are lent out).",
                _waiting(pool),
            )
        if self.settlement is not None:
            queued, oldest_s = self.settlement
            yield GaugeMetricFamily(
                "coins_settlement_queued_gifts",
                "Gifts sent and not yet credited to their creators (all processes).",
                queued,
            )
            yield GaugeMetricFamily(
                "coins_settlement_oldest_seconds",
                "How long the oldest queued gift has waited (0 when none): it grows while no "
                "settler runs, or while it cannot keep up.",
                oldest_s,
            )
        feed = self.feed
        if feed is not None and hasattr(feed, "subscriber_total"):
            yield GaugeMetricFamily(
                "coins_feed_subscribers",
                "Live-feed (giftSent) subscriptions open in this process.",
                feed.subscriber_total(),
            )
            yield GaugeMetricFamily(
                "coins_feed_dropped_events",
                "Live-feed events lost by subscribers that did not keep up (since start).",
                feed.dropped_events(),
            )


async def watch_settlement(every_s: float = 5.0) -> None:
    """Sample the settlement queue for the gauges (a scrape cannot wait for the database):
    with ``COINS_SETTLER=process`` the settler is another process, and this is where an
    operator sees it stopped or falling behind."""
    log = structlog.get_logger(__name__)
    while True:
        try:
            runtime.settlement = await settlement.backlog()
        except Exception as error:  # an outage: the gauges go stale, the app goes on
            runtime.settlement = None
            log.warning("metrics.settlement_unread", reason=f"{type(error).__name__}: {error}")
        await asyncio.sleep(every_s)


def _waiting(pool: Any) -> int:
    """asyncpg has no public count of waiters: its queue of idle connections holds them."""
    getters = getattr(getattr(pool, "_queue", None), "_getters", ())
    return sum(1 for waiter in getters if not waiter.done())


runtime = RuntimeCollector()
REGISTRY.register(runtime)


def multiprocess_dir() -> str | None:
    """prometheus-client's multiprocess mode: several workers write their metrics there."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR")


EXCLUDE_FROM_METRICS = "exclude_from_metrics"


def prometheus_config() -> PrometheusConfig:
    """Litestar's middleware: one series per route template, not per URL. ``/graphql`` is
    left to ``observe_operation`` (per operation and outcome, a few us): the middleware
    costs a request some 90 us of CPU (a Request, label dicts, four labelled series), about
    as much as a whole trivial Litestar request, on the path of every gift."""
    return PrometheusConfig(
        app_name="coins",
        prefix="coins_http",
        group_path=True,
        exclude=["^/metrics$", "^/graphql$"],
        # A route whose ``opt`` says so is left out too (the benchmark's minimal handler,
        # which must cost what ``/graphql`` costs around the service, no more).
        exclude_opt_key=EXCLUDE_FROM_METRICS,
        buckets=list(metrics.LATENCY_BUCKETS_S),
    )


def metrics_controller(settings: Settings) -> type[PrometheusController] | None:
    """The ``/metrics`` controller for ``settings``; None when it must not be served."""
    token = settings.observability.metrics_token
    if not token and settings.is_production:
        return None

    class MetricsController(PrometheusController):
        include_in_schema = False

        @get(sync_to_thread=False)
        def get(self) -> Response[bytes]:
            """The plugin's answer, plus this process's live gauges under multiprocess mode
            (the plugin's multiprocess registry holds only the shared metrics)."""
            registry = REGISTRY
            if multiprocess_dir():
                registry = CollectorRegistry()
                multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
                registry.register(runtime)
            return Response(
                generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
            )

    if token:
        expected = f"Bearer {token}".encode()

        def require_token(connection: Request[Any, Any, Any], _: object) -> None:
            sent = connection.headers.get("authorization", "").encode()
            if not hmac.compare_digest(sent, expected):
                raise NotAuthorizedException("A metrics token is needed.")

        MetricsController.guards = [require_token]
    return MetricsController


def subscribe() -> Callable[[], None]:
    """Count the business events after they commit; returns the function that stops it."""

    async def gift_sent(event: GiftSent) -> None:
        metrics.GIFTS_SENT.inc()
        metrics.GIFT_COINS.inc(event.event.coins)

    async def coins_sold(event: CoinsSold) -> None:
        metrics.PURCHASES.labels(event.currency, event.provider.value).inc()
        metrics.COINS_SOLD.labels(event.currency, event.provider.value).inc(event.coins)

    async def payout_requested(_: PayoutRequested) -> None:
        metrics.PAYOUTS.labels(PayoutStatus.PENDING.value).inc()

    async def payout_changed(event: PayoutStatusChanged) -> None:
        metrics.PAYOUTS.labels(event.status.value).inc()

    unsubscribers = [
        bus.subscribe(GiftSent, gift_sent, name="metrics"),
        bus.subscribe(CoinsSold, coins_sold, name="metrics"),
        bus.subscribe(PayoutRequested, payout_requested, name="metrics"),
        bus.subscribe(PayoutStatusChanged, payout_changed, name="metrics"),
    ]

    def unsubscribe() -> None:
        for remove in unsubscribers:
            remove()

    return unsubscribe

"""``create_app(settings) -> Litestar``: the GraphQL API, the admin, webhooks, and what
operators watch (``/healthz``, ``/readyz``, ``/metrics``, traces)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from litestar import Litestar, get
from litestar.config.cors import CORSConfig
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.plugins import PluginProtocol
from litestar.response import Redirect
from litestar.static_files import create_static_files_router

from app import wiring
from app.admin.router import admin_router
from app.admin.templating import template_config
from app.core.background import Background
from app.core.database import close_pool, create_engine, open_pool, use_engine
from app.core.logging import configure_logging, litestar_logging_config
from app.gifts.settlement import Settler
from app.graphql.http import GRAPHIQL_ASSETS, GRAPHIQL_ASSETS_PATH, graphql_controller
from app.graphql.persisted import PersistedQueries
from app.graphql.schema import build_schema
from app.observability import metrics, tracing
from app.observability.health import health_controller
from app.settings import Settings
from app.sign_in import create_throttle
from app.streams.feed import create_feed
from app.users.passwords import configure_hashing
from app.web.connect_webhooks import connect_webhook_handler
from app.web.request_ids import RequestIdMiddleware
from app.web.webhooks import webhook_handlers

log = structlog.get_logger(__name__)


@get("/", include_in_schema=False)
async def index() -> Redirect:
    return Redirect("/graphql")


def create_app(settings: Settings | None = None, *, traced: bool | None = None) -> Litestar:
    """``traced``: OpenTelemetry traces on or off; None (uvicorn's factory call) asks the
    ``OTEL_*`` variables, and sets up the SDK from them."""
    settings = settings or Settings.from_env()
    configure_logging(settings)
    if traced is None:
        traced = tracing.configure()
    plugins: list[PluginProtocol] = []
    if traced:
        tracing.instrument()
        plugins.append(tracing.plugin())
    engine = create_engine(settings.database)
    use_engine(engine, settings.database.retry_attempts)

    feed = create_feed(settings.redis_url, settings.redis_channel_prefix, settings.feed)
    configure_hashing(settings.sign_in.hash_threads, settings.sign_in.hash_queue)
    sign_in = create_throttle(settings.sign_in, settings.redis_url)
    persisted = PersistedQueries.from_settings(
        settings.http, settings.redis_url, settings.redis_channel_prefix
    )

    @asynccontextmanager
    async def database(app: Litestar) -> AsyncIterator[None]:
        use_engine(engine, settings.database.retry_attempts)
        await open_pool(engine, settings.database.pool_max_size)
        await feed.start()
        metrics.runtime.engine, metrics.runtime.feed = engine, feed
        # Without its own settler (``COINS_SETTLER=process``), ``coins settle`` settles.
        settler = Settler() if settings.settler == "app" else None
        if settler is not None:
            settler.start()
        watching = asyncio.get_running_loop().create_task(
            metrics.watch_settlement(), name="settlement-gauges"
        )
        after_response = Background("after-response")
        after_response.start()
        app.state.after_response = after_response
        unsubscribe = wiring.subscribe(settings, feed, settler, after_response)
        # What start-up built (schema, modules, templates) lives as long as the process:
        # out of the collector's sight, a full collection no longer walks it mid-request,
        # which was the longest pause in the latency tail.
        gc.freeze()
        try:
            yield
        finally:
            gc.unfreeze()
            unsubscribe()
            watching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watching
            # Each step runs even when one before it fails (a database gone away must not
            # keep the pool open and the process from exiting).
            try:
                await after_response.stop()
                if settler is not None:
                    await settler.stop()
                await sign_in.close()
                await feed.close()
                await persisted.close()
            except Exception:
                log.exception("shutdown.incomplete")
            finally:
                await close_pool(engine)
                if metrics.runtime.engine is engine:
                    metrics.runtime.engine = metrics.runtime.feed = None
                    metrics.runtime.settlement = None

    graphiql = not settings.is_production
    registered = persisted.manifest if settings.http.persisted_queries_only else None
    schema = build_schema(settings, registered, tracing=tracing.GraphQLTracing if traced else None)
    metrics_endpoint = metrics.metrics_controller(settings)
    graphql = graphql_controller(
        schema,
        settings,
        feed,
        graphiql=graphiql,
        sign_in=sign_in,
        persisted=persisted,
    )
    graphiql_assets = create_static_files_router(
        path=GRAPHIQL_ASSETS_PATH, directories=[GRAPHIQL_ASSETS], include_in_schema=False
    )

    app = Litestar(
        route_handlers=[
            index,
            health_controller(settings),
            *([metrics_endpoint] if metrics_endpoint is not None else []),
            graphql,
            admin_router(secure_cookies=settings.secure_cookies),
            *webhook_handlers(settings),
            connect_webhook_handler(settings),
            *([graphiql_assets] if graphiql else []),
        ],
        middleware=[metrics.prometheus_config().middleware],
        plugins=plugins,
        lifespan=[database],
        state=State({"feed": feed, "sign_in": sign_in}),
        dependencies={"settings": Provide(lambda: settings, use_cache=True, sync_to_thread=False)},
        template_config=template_config(),
        # Cookie-authenticated forms need CSRF tokens; the bearer-token API and signed
        # webhooks carry no ambient credentials, so they are excluded.
        csrf_config=CSRFConfig(
            secret=settings.csrf_secret,
            cookie_secure=settings.secure_cookies,
            cookie_httponly=True,
            cookie_samesite="lax",
            exclude=["/graphql", "/webhooks", "/healthz", "/readyz", "/metrics"],
        ),
        cors_config=_cors(settings),
        logging_config=litestar_logging_config(),
        debug=False,
    )
    # Outermost, so that every request has an id, those no route answers included.
    app.asgi_handler = RequestIdMiddleware(app.asgi_handler)
    return app


def _cors(settings: Settings) -> CORSConfig | None:
    """Browsers on the configured origins may call the API with a bearer token; no cookies
    cross origins (the admin's session stays same-site). None configured, no CORS at all."""
    if not settings.cors_origins:
        return None
    return CORSConfig(
        allow_origins=list(settings.cors_origins),
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
        expose_headers=["X-Request-ID"],
        allow_credentials=False,
        max_age=600,
    )

"""``create_app(settings) -> Litestar``: the GraphQL API, the admin, webhooks, health check."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, ClassVar

from litestar import Litestar, Response, get
from litestar.background_tasks import BackgroundTasks
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.response import Redirect
from litestar.types import Dependencies
from strawberry.exceptions import ConnectionRejectionError
from strawberry.litestar import make_graphql_controller
from strawberry.types.unset import UnsetType

from app import wiring
from app.admin.router import admin_router
from app.admin.templating import template_config
from app.core.database import close_pool, create_engine, open_pool, use_engine
from app.core.logging import configure_logging
from app.gifts.settlement import Settler
from app.graphql.context import Context
from app.graphql.schema import build_schema
from app.settings import Settings
from app.streams.feed import create_feed
from app.web.webhooks import webhook_handlers


@get("/", include_in_schema=False)
async def index() -> Redirect:
    return Redirect("/graphql")


def sub_response() -> Response[Any]:
    """Where resolvers may set headers, cookies or background tasks (``context.response``)."""
    return Response({}, background=BackgroundTasks([]))


@get("/healthz", include_in_schema=False)
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or Settings.from_env()
    configure_logging(settings)
    engine = create_engine(settings.database)
    use_engine(engine, settings.database.retry_attempts)

    feed = create_feed(settings.redis_url, settings.redis_channel_prefix)

    @asynccontextmanager
    async def database(_: Litestar) -> AsyncIterator[None]:
        use_engine(engine, settings.database.retry_attempts)
        await open_pool(engine, settings.database.pool_max_size)
        settler = Settler()
        settler.start()
        unsubscribe = wiring.subscribe(settings, feed, settler)
        try:
            yield
        finally:
            await settler.stop()
            unsubscribe()
            await close_pool(engine)

    async def context_getter() -> Context:
        return Context(settings=settings, feed=feed)

    base_controller = make_graphql_controller(
        build_schema(settings),
        path="/graphql",
        graphql_ide=None if settings.is_production else "graphiql",
        allow_queries_via_get=False,
        context_getter=context_getter,
    )

    class GraphQLController(base_controller):  # type: ignore[valid-type,misc]
        # Strawberry provides the sub-response through ``sync_to_thread``: a thread hop on
        # every request to build an empty Response. Built on the event loop instead.
        dependencies: ClassVar[Dependencies] = {
            **base_controller.dependencies,
            "response": Provide(sub_response, sync_to_thread=False),
        }

        async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
            """Subscriptions need a bearer token in the ``connection_init`` payload."""
            if await context.viewer() is None:
                raise ConnectionRejectionError()
            return await super().on_ws_connect(context)

    return Litestar(
        route_handlers=[
            index,
            healthz,
            GraphQLController,
            admin_router(),
            *webhook_handlers(settings),
        ],
        lifespan=[database],
        state=State({"feed": feed}),
        dependencies={"settings": Provide(lambda: settings, use_cache=True, sync_to_thread=False)},
        template_config=template_config(),
        # Cookie-authenticated forms need CSRF tokens; the bearer-token API and signed
        # webhooks carry no ambient credentials, so they are excluded.
        csrf_config=CSRFConfig(
            secret=settings.csrf_secret,
            cookie_secure=settings.secure_cookies,
            cookie_httponly=True,
            cookie_samesite="lax",
            exclude=["/graphql", "/webhooks", "/healthz"],
        ),
        debug=False,
    )

"""Per-request context: settings, DataLoaders and the signed-in user (from the bearer token)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import msgspec
from strawberry.litestar.controller import BaseContext
from strawberry.types import Info

from app.core.errors import DomainError, ErrorCode
from app.graphql.fanout import note_viewer_read
from app.graphql.loaders import Loaders
from app.settings import Settings
from app.sign_in import SignInThrottle
from app.users.service import UserRecord
from app.users.tokens import bearer_token, token_expiry, user_id_from_token
from app.web.client_ip import connection_ip


class Context(BaseContext, kw_only=True):
    settings: Settings
    # The live feed of gifts (``app.streams.feed``), one per app.
    feed: Any = None
    # Limits on logIn and signUp, one per app (``app.sign_in``); None: none (tests only).
    sign_in: SignInThrottle | None = None
    # The ``connection_init`` payload of a websocket: carries its Authorization.
    connection_params: dict[str, Any] | None = None
    loaders: Loaders = msgspec.field(default_factory=Loaders)
    # The code of the DomainError a mutation answered with in its payload (for metrics).
    outcome: str | None = None
    # Holds the resolved viewer once looked up; a dict because Struct fields are declared.
    cache: dict[str, Any] = msgspec.field(default_factory=dict)

    def _authorization(self) -> str | None:
        if self.request is not None:
            return self.request.headers.get("authorization")
        params = self.connection_params or {}
        value = params.get("Authorization", params.get("authorization"))
        return value if isinstance(value, str) else None

    def client_ip(self) -> str | None:
        """The client's address, X-Forwarded-For read only from trusted proxies."""
        connection = self.request if self.request is not None else self.websocket
        if connection is None:
            return None
        return connection_ip(connection, self.settings.trusted_proxies)

    async def viewer(self) -> UserRecord | None:
        """The user the bearer token names, or None for a missing, bad or expired token."""
        note_viewer_read()
        return await self._viewer()

    async def viewer_is(self, user_id: int) -> bool:
        """Whether the viewer is this user: the question a private field asks, which a live
        feed event rendered for one viewer answers alike for every viewer but that user."""
        viewer = await self._viewer()
        matched = viewer is not None and viewer.id == user_id
        note_viewer_read(user_id, matched=matched)
        return matched

    async def fanout_viewer_id(self) -> int | None:
        """The viewer's id for choosing a shared rendering: not itself a read of the viewer."""
        viewer = await self._viewer()
        return viewer.id if viewer is not None else None

    async def _viewer(self) -> UserRecord | None:
        if "viewer" not in self.cache:
            token = bearer_token(self._authorization())
            user_id = user_id_from_token(token, self.settings.auth) if token else None
            self.cache["viewer"] = (
                await self.loaders.user_by_id.load(user_id) if user_id is not None else None
            )
        return self.cache["viewer"]

    def token_expires_at(self) -> int | None:
        """When the bearer token expires (a UNIX time); None without a valid one."""
        token = bearer_token(self._authorization())
        return token_expiry(token, self.settings.auth) if token else None

    @contextmanager
    def subscription_slot(self) -> Iterator[None]:
        """Hold one of the socket's subscriptions (a websocket shares one context)."""
        limit = self.settings.feed.max_subscriptions_per_socket
        held = self.cache.get("subscriptions", 0)
        if held >= limit:
            raise DomainError(
                ErrorCode.TOO_MANY_SUBSCRIPTIONS,
                f"At most {limit} subscriptions on one connection.",
            )
        self.cache["subscriptions"] = held + 1
        try:
            yield
        finally:
            self.cache["subscriptions"] -= 1


CoinsInfo = Info[Context, None]


async def require_viewer(info: CoinsInfo) -> UserRecord:
    viewer = await info.context.viewer()
    if viewer is None:
        raise DomainError(ErrorCode.UNAUTHENTICATED, "Sign in to do this.")
    return viewer


async def require_viewer_until(info: CoinsInfo) -> tuple[UserRecord, int]:
    """The viewer and when their token expires: what outlives a request (a subscription)
    ends then. A websocket's viewer is read once, so its token is checked again here."""
    viewer = await require_viewer(info)
    expires_at = info.context.token_expires_at()
    if expires_at is None:
        raise DomainError(ErrorCode.UNAUTHENTICATED, "Sign in to do this.")
    return viewer, expires_at


async def require_viewer_id(info: CoinsInfo) -> int:
    return (await require_viewer(info)).id


def token_user_id(info: CoinsInfo) -> int:
    """The user id a valid bearer token names, without reading the user: for a service that
    checks the account itself in its own statement (the gift path), one round trip fewer."""
    context = info.context
    note_viewer_read()
    token = bearer_token(context._authorization())
    user_id = user_id_from_token(token, context.settings.auth) if token else None
    if user_id is None:
        raise DomainError(ErrorCode.UNAUTHENTICATED, "Sign in to do this.")
    return user_id

"""``@mutation``: how every mutation field is declared, so each gets the same two guarantees."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import strawberry
from strawberry.extensions import FieldExtension
from strawberry.extensions.field_extension import AsyncExtensionResolver
from strawberry.types import Info

from app.graphql.errors import ErrorsInPayload
from app.graphql.loaders import Loaders


class ReadsAfterWrites(FieldExtension):
    """Give the request fresh loaders once a mutation has run.

    Mutations run one after another, and what earlier fields loaded (a balance, a user)
    may predate this one's writes; its payload and later fields read from new loaders.
    """

    async def resolve_async(
        self, next_: AsyncExtensionResolver, source: Any, info: Info, **kwargs: Any
    ) -> Any:
        try:
            return await next_(source, info, **kwargs)
        finally:
            info.context.loaders = Loaders()


def mutation(resolver: Callable[..., Any] | None = None, *, description: str | None = None) -> Any:
    """``strawberry.mutation`` with domain errors as payload errors and fresh loaders after."""
    field = strawberry.mutation(
        description=description, extensions=[ErrorsInPayload(), ReadsAfterWrites()]
    )
    return field if resolver is None else field(resolver)

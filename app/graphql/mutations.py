"""``@mutation``: how every mutation field is declared, so each gets the same guarantees."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import strawberry
from strawberry.extensions import FieldExtension
from strawberry.extensions.field_extension import AsyncExtensionResolver
from strawberry.types import Info
from strawberry.types.base import has_object_definition
from strawberry.types.field import StrawberryField

from app.core.errors import DomainError
from app.graphql.errors import MutationError
from app.graphql.loaders import Loaders


class MutationGuarantees(FieldExtension):
    """Both guarantees in one extension, since each wraps every call of the resolver:

    - errors as data: a ``DomainError`` the resolver raises becomes the payload's
      ``errors`` list, every other payload field null, so mutation code only raises;
    - reads after writes: mutations run one after another, and what earlier fields loaded
      (a balance, a user) may predate this one's writes, so once it has run the request
      gets fresh loaders for its payload and later fields.
    """

    payload: type[Any]

    def apply(self, field: StrawberryField) -> None:
        payload = field.type
        names = (
            {f.python_name for f in payload.__strawberry_definition__.fields}
            if has_object_definition(payload)
            else set()
        )
        if "errors" not in names:
            raise TypeError(f"Mutation {field.python_name} must return a payload with errors.")
        self.payload = payload

    async def resolve_async(
        self, next_: AsyncExtensionResolver, source: Any, info: Info, **kwargs: Any
    ) -> Any:
        try:
            return await next_(source, info, **kwargs)
        except DomainError as error:
            return self.payload(errors=[MutationError.from_domain(error)])
        finally:
            info.context.loaders = Loaders()


def mutation(resolver: Callable[..., Any] | None = None, *, description: str | None = None) -> Any:
    """``strawberry.mutation`` with domain errors as payload errors and fresh loaders after."""
    field = strawberry.mutation(description=description, extensions=[MutationGuarantees()])
    return field if resolver is None else field(resolver)

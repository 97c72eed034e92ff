"""``@mutation``: how every mutation field is declared, so each gets the same guarantees."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import strawberry
from strawberry.extensions import FieldExtension
from strawberry.extensions.field_extension import AsyncExtensionResolver
from strawberry.types import Info
from strawberry.types.base import has_object_definition
from strawberry.types.field import StrawberryField
from strawberry.utils.str_converters import to_camel_case

from app.core.errors import DomainError, ErrorCode
from app.graphql.errors import MutationError
from app.graphql.loaders import Loaders


class MutationGuarantees(FieldExtension):
    """Both guarantees in one extension, since each wraps every call of the resolver:

    - storable input: a string no database column can hold (a NUL byte, a lone surrogate)
      is INVALID_INPUT on its input field, refused here once for every mutation;
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
            for name, value in kwargs.items():
                refuse_unstorable(value, to_camel_case(name))
            return await next_(source, info, **kwargs)
        except DomainError as error:
            info.context.outcome = error.code.value
            return self.payload(errors=[MutationError.from_domain(error)])
        finally:
            info.context.loaders = Loaders()


def refuse_unstorable(value: Any, field: str) -> None:
    """Refuse strings PostgreSQL text cannot hold (NUL) or UTF-8 cannot encode (a lone
    surrogate, which JSON's ``\\ud800`` escape lets through): both failed in the database
    driver as server errors. ``field`` is the camelCase input name the client sent."""
    if isinstance(value, str):
        if "\x00" in value or (not value.isascii() and not _encodes(value)):
            raise DomainError(
                ErrorCode.INVALID_INPUT, "Text may not hold NUL bytes or lone surrogates.", field
            )
    elif isinstance(value, list):
        for item in value:
            refuse_unstorable(item, field)
    elif hasattr(value, "__strawberry_definition__"):
        for python_name, name in _input_fields(type(value)):
            refuse_unstorable(getattr(value, python_name), name)


@cache
def _input_fields(input_type: type) -> tuple[tuple[str, str], ...]:
    """An input type's (python name, GraphQL name) pairs, worked out once per type: the walk
    runs on every mutation, the gift path among them."""
    return tuple(
        (f.python_name, f.graphql_name or to_camel_case(f.python_name))
        for f in input_type.__strawberry_definition__.fields  # type: ignore[attr-defined]
    )


def _encodes(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def mutation(resolver: Callable[..., Any] | None = None, *, description: str | None = None) -> Any:
    """``strawberry.mutation`` with domain errors as payload errors and fresh loaders after."""
    field = strawberry.mutation(description=description, extensions=[MutationGuarantees()])
    return field if resolver is None else field(resolver)

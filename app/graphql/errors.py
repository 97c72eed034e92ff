"""Where domain errors meet GraphQL.

Mutations return them as ``MutationError`` items in their payload (``ErrorsInPayload``,
on every mutation through ``app.graphql.mutations.mutation``); a query that fails on bad
input (a page size over the cap, a malformed cursor) gets a top-level error whose
``extensions`` carry the code and field. Everything else is masked as ``Unexpected
error.`` and logged.
"""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import FieldExtension, MaskErrors
from strawberry.extensions.field_extension import AsyncExtensionResolver
from strawberry.types import Info
from strawberry.types.base import has_object_definition
from strawberry.types.field import StrawberryField

from app.core.errors import DomainError
from app.core.errors import ErrorCode as DomainErrorCode

ErrorCode = strawberry.enum(DomainErrorCode, name="ErrorCode")


@strawberry.type
class MutationError:
    code: ErrorCode
    message: str
    field: str | None = strawberry.field(
        default=None, description="The input field at fault, when there is one."
    )

    @classmethod
    def from_domain(cls, error: DomainError) -> MutationError:
        return cls(code=error.code, message=error.message, field=error.field)


class ErrorsInPayload(FieldExtension):
    """The one error mapper: a ``DomainError`` the resolver raises becomes the payload's
    ``errors`` list, every other payload field null, so mutation code only raises."""

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


def is_domain_error(error: GraphQLError) -> bool:
    return isinstance(error.original_error, DomainError)


def is_unexpected(error: GraphQLError) -> bool:
    """Validation and domain errors speak to the client; anything a resolver raised else hides."""
    return error.original_error is not None and not is_domain_error(error)


class DomainAwareMaskErrors(MaskErrors):
    """Mask unexpected errors; give domain errors their stable code in ``extensions``."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=is_unexpected)

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        processed = []
        for error in super()._process_errors(errors):
            original = error.original_error
            if isinstance(original, DomainError):
                error = GraphQLError(
                    original.message,
                    nodes=error.nodes,
                    source=error.source,
                    positions=error.positions,
                    path=error.path,
                    original_error=original,
                    extensions={"code": original.code.value, "field": original.field},
                )
            processed.append(error)
        return processed

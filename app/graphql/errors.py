"""Where domain errors meet GraphQL.

Mutations return them as ``MutationError`` items in their payload (``run_mutation``); a
query that fails on bad input (a page size over the cap, a malformed cursor) gets a
top-level error whose ``extensions`` carry the code and field. Everything else is masked
as ``Unexpected error.`` and logged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

import strawberry
from graphql import GraphQLError
from strawberry.extensions import MaskErrors

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


class _Payload(Protocol):
    def __init__(self, *, errors: list[MutationError], **kwargs: Any) -> None: ...


P = TypeVar("P")


async def run_mutation(payload: type[P], action: Callable[[], Awaitable[P]]) -> P:
    """Run a mutation; a ``DomainError`` becomes the payload's ``errors``, other fields null."""
    try:
        return await action()
    except DomainError as error:
        return payload(errors=[MutationError.from_domain(error)])  # type: ignore[call-arg]


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

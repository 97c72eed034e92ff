"""Where domain errors meet GraphQL.

Mutations return them as ``MutationError`` items in their payload (every mutation, through
``app.graphql.mutations.mutation``); a query that fails on bad
input (a page size over the cap, a malformed cursor) gets a top-level error whose
``extensions`` carry the code and field. Everything else is masked as ``Unexpected
error.`` and logged.
"""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import GraphQLError, VariableDefinitionNode
from strawberry.extensions import MaskErrors

from app.core.errors import DomainError
from app.core.errors import ErrorCode as DomainErrorCode

ErrorCode = strawberry.enum(DomainErrorCode, name="ErrorCode")
UNEXPECTED = "Unexpected error."


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


def is_domain_error(error: GraphQLError) -> bool:
    return isinstance(error.original_error, DomainError)


def bad_variable(error: GraphQLError) -> str | None:
    """The variable a client sent a value of the wrong type for (``2**31`` for an Int, ``1.5``,
    ``"5"``), None for any other error. graphql-core refuses these before execution, keeping
    the parser's exception as ``original_error``, which made them look like our failure."""
    nodes = error.nodes
    if error.path is not None or not nodes or len(nodes) != 1:
        return None
    node = nodes[0]
    return node.variable.name.value if isinstance(node, VariableDefinitionNode) else None


def is_unexpected(error: GraphQLError) -> bool:
    """Validation and domain errors speak to the client; anything a resolver raised else hides."""
    return (
        error.original_error is not None
        and not is_domain_error(error)
        and bad_variable(error) is None
    )


def masked(errors: list[GraphQLError]) -> list[GraphQLError]:
    """What the client sees: unexpected errors as ``Unexpected error.``, domain errors with
    their stable code in ``extensions``, validation errors as they are."""
    shown = []
    for error in errors:
        original = error.original_error
        if isinstance(original, DomainError):
            extensions = {"code": original.code.value, "field": original.field}
            error = _copy(error, original.message, original, extensions)
        elif (variable := bad_variable(error)) is not None:
            extensions = {"code": DomainErrorCode.INVALID_INPUT.value, "field": variable}
            error = _copy(error, error.message, None, extensions)
        elif original is not None:
            error = _copy(error, UNEXPECTED, None, None)
        shown.append(error)
    return shown


def _copy(
    error: GraphQLError,
    message: str,
    original: Exception | None,
    extensions: dict[str, Any] | None,
) -> GraphQLError:
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=original,
        extensions=extensions,
    )


class DomainAwareMaskErrors(MaskErrors):
    """``masked`` on Strawberry's own road (subscriptions, GraphiQL, GET, batches)."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=is_unexpected, error_message=UNEXPECTED)

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        return masked(errors)

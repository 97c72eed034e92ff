"""Input objects built from a plan worked out once per type.

Strawberry converts an input object field by field on every request, resolving each field's
annotation and GraphQL name again each time: for ``sendGift`` about a quarter of the
GraphQL layer's CPU. graphql-core has already coerced and validated every value by then, so
a field whose type is a scalar or an enum (optional or not) needs no conversion at all: the
plan lists the fields once and copies those values as they are. Any other field (a list, a
nested input) is converted by Strawberry's own ``convert_argument``, through the hook
Strawberry offers for types that build their own value (``from_input``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING
from typing import Any

import strawberry
from strawberry.scalars import is_scalar
from strawberry.types.arguments import InputContext
from strawberry.types.base import (
    StrawberryMaybe,
    StrawberryObjectDefinition,
    StrawberryOptional,
    StrawberryType,
)
from strawberry.types.enum import StrawberryEnumDefinition, has_enum_definition

# (GraphQL name, Python name, the field's type when it needs converting, else None)
_Step = tuple[str, str, StrawberryType | type | None]


class InputPlan:
    """``from_input`` for one input type: the fields' names and which need converting,
    resolved on first use (the schema's types are all known by then)."""

    def __init__(self, definition: StrawberryObjectDefinition) -> None:
        self._definition = definition
        self._steps: list[_Step] | None = None
        self._required: dict[str, None] = {}

    def __call__(self, cls: type, value: Mapping[str, Any], context: InputContext) -> Any:
        steps = self._steps if self._steps is not None else self._plan(context)
        # As Strawberry does: a field without a default starts as None (graphql-core has
        # checked that the required ones are present).
        kwargs: dict[str, Any] = dict(self._required)
        for graphql_name, python_name, convert in steps:
            if graphql_name in value:
                raw = value[graphql_name]
                kwargs[python_name] = (
                    raw if convert is None else context.convert(raw, convert, graphql_name)
                )
        return cls(**kwargs)

    def _plan(self, context: InputContext) -> list[_Step]:
        definition = self._definition
        steps: list[_Step] = []
        for field in definition.fields:
            type_ = field.resolve_type(type_definition=definition)
            leaf = _is_leaf(type_, context)
            graphql_name = context.config.name_converter.from_field(field)
            steps.append((graphql_name, field.python_name, None if leaf else type_))
            if field.default_value is MISSING and field.default_factory is MISSING:
                self._required[field.python_name] = None
        self._steps = steps
        return steps


def _is_leaf(type_: Any, context: InputContext) -> bool:
    """A scalar or an enum, optional or not: graphql-core's coerced value is the value."""
    if isinstance(type_, StrawberryOptional) and not isinstance(type_, StrawberryMaybe):
        type_ = type_.of_type
    return (
        is_scalar(type_, context.scalar_registry)
        or isinstance(type_, StrawberryEnumDefinition)
        or has_enum_definition(type_)
    )


def plan_inputs(schema: strawberry.Schema) -> None:
    """Give every input type of ``schema`` its plan. Types with a ``Maybe`` field keep
    Strawberry's conversion: its null check for them is skipped for types with a hook."""
    for concrete in schema.schema_converter.type_map.values():
        definition = concrete.definition
        if not isinstance(definition, StrawberryObjectDefinition) or not definition.is_input:
            continue
        if definition.from_input is not None:
            continue
        if any(isinstance(field.type, StrawberryMaybe) for field in definition.fields):
            continue
        definition.from_input = InputPlan(definition)

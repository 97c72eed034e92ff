"""Input objects built from a plan (``app.graphql.inputs``) are the ones Strawberry builds."""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest
import strawberry
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLNonNull,
    GraphQLScalarType,
    GraphQLType,
)
from strawberry.types.arguments import convert_argument
from strawberry.types.base import StrawberryObjectDefinition

from app.graphql.inputs import InputPlan
from app.graphql.schema import build_schema
from app.settings import Settings

SCALARS = {"String": "a text", "ID": "R2lmdDox", "Int": 7, "Boolean": True, "Float": 1.5}


def _sample(type_: GraphQLType) -> Any:
    """A value as graphql-core hands it to Strawberry once it has coerced the input."""
    if isinstance(type_, GraphQLNonNull):
        type_ = type_.of_type
    if isinstance(type_, GraphQLEnumType):
        return next(iter(type_.values.values())).value
    assert isinstance(type_, GraphQLScalarType), f"no sample for {type_}"
    return SCALARS[type_.name]


@cache
def _schema() -> strawberry.Schema:
    return build_schema(Settings())


def _inputs() -> list[tuple[StrawberryObjectDefinition, GraphQLInputObjectType]]:
    schema = _schema()
    return [
        (concrete.definition, concrete.implementation)
        for concrete in schema.schema_converter.type_map.values()
        if isinstance(concrete.definition, StrawberryObjectDefinition)
        and concrete.definition.is_input
    ]


def _built_by_strawberry(definition: StrawberryObjectDefinition, value: dict[str, Any]) -> Any:
    """Strawberry's own field-by-field conversion, with the plan set aside."""
    schema = _schema()
    plan, definition.from_input = definition.from_input, None
    try:
        return convert_argument(
            value,
            definition.origin,
            schema.schema_converter.scalar_registry,
            schema.config,
        )
    finally:
        definition.from_input = plan


def _built_by_plan(definition: StrawberryObjectDefinition, value: dict[str, Any]) -> Any:
    schema = _schema()
    assert isinstance(definition.from_input, InputPlan)
    return convert_argument(
        value,
        definition.origin,
        schema.schema_converter.scalar_registry,
        schema.config,
    )


@pytest.mark.parametrize("fields", ["all", "required"])
def test_every_input_type_is_built_as_strawberry_builds_it(fields: str) -> None:
    inputs = _inputs()
    assert {definition.name for definition, _ in inputs} >= {"SendGiftInput", "PurchaseCoinsInput"}
    for definition, implementation in inputs:
        value = {
            name: _sample(field.type)
            for name, field in implementation.fields.items()
            if fields == "all" or isinstance(field.type, GraphQLNonNull)
        }
        expected = _built_by_strawberry(definition, value)
        built = _built_by_plan(definition, value)
        assert built == expected, definition.name
        assert type(built) is definition.origin


def test_a_send_gift_input_keeps_its_defaults_and_its_enum_values() -> None:
    inputs = {definition.name: definition for definition, _ in _inputs()}
    sent = _built_by_plan(
        inputs["SendGiftInput"],
        {"streamId": "s", "giftId": "g", "quantity": 1, "idempotencyKey": "k"},
    )
    assert (sent.quantity, sent.country, sent.message) == (1, None, None)
    purchase = _built_by_plan(
        inputs["PurchaseCoinsInput"],
        {"packageId": "p", "provider": "SANDBOX", "receipt": "r", "idempotencyKey": "k"},
    )
    assert purchase.provider == "SANDBOX"

"""The schema: each domain's Query and Mutation types merged, hardened by settings."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry.extensions.disable_introspection import DisableIntrospection
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext
from strawberry.utils.logging import StrawberryLogger

from app.graphql.errors import DomainAwareMaskErrors, is_unexpected
from app.graphql.types.economy import EconomyQuery
from app.graphql.types.fraud import FraudMutation
from app.graphql.types.gifts import GiftsMutation, GiftsQuery
from app.graphql.types.offers import OffersMutation, OffersQuery
from app.graphql.types.payouts import PayoutsMutation
from app.graphql.types.purchases import PurchasesMutation, PurchasesQuery
from app.graphql.types.spending import SpendingMutation
from app.graphql.types.streams import StreamsMutation, StreamsQuery, StreamsSubscription
from app.graphql.types.users import UsersMutation, UsersQuery
from app.settings import Settings

Query = merge_types(
    "Query",
    (UsersQuery, EconomyQuery, PurchasesQuery, GiftsQuery, StreamsQuery, OffersQuery),
)
Mutation = merge_types(
    "Mutation",
    (
        UsersMutation,
        PurchasesMutation,
        GiftsMutation,
        StreamsMutation,
        SpendingMutation,
        OffersMutation,
        PayoutsMutation,
        FraudMutation,
    ),
)
Subscription = merge_types("Subscription", (StreamsSubscription,))

CACHE_SIZE = 256


class CoinsSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Log what went wrong on our side; a client's bad input is not an incident."""
        for error in errors:
            if is_unexpected(error):
                StrawberryLogger.error(error, execution_context)


def build_schema(settings: Settings) -> strawberry.Schema:
    limits = settings.graphql
    # The limiters' rule classes are made here, once: each limiter makes a new class when
    # it is built, and the validation cache keys on the classes, so limiters built per
    # request would make every request miss it.
    rules = [
        *QueryDepthLimiter(max_depth=limits.max_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=limits.max_aliases).validation_rules,
    ]
    # Factories, not instances: extensions keep per-request state.
    extensions: list[Callable[[], SchemaExtension]] = [
        lambda: AddValidationRules(rules),
        lambda: MaxTokensLimiter(max_token_count=limits.max_tokens),
        lambda: ParserCache(maxsize=CACHE_SIZE),
        lambda: ValidationCache(maxsize=CACHE_SIZE),
        DomainAwareMaskErrors,
    ]
    if settings.is_production:
        extensions.append(DisableIntrospection)
    return CoinsSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,
        config=StrawberryConfig(disable_field_suggestions=settings.is_production),
    )


def schema_sdl() -> str:
    return build_schema(Settings()).as_str() + "\n"


def write_schema(path: Path) -> None:
    path.write_text(schema_sdl())

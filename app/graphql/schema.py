"""The schema: each domain's Query and Mutation types merged, hardened by settings."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import strawberry
from graphql import ASTValidationRule, DocumentNode, ExecutionResult, GraphQLError
from graphql.type.definition import GraphQLResolveInfoHelpers
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import MaxAliasesLimiter, QueryDepthLimiter, SchemaExtension
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
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


def _spent(_: object) -> Any:
    raise RuntimeError("this execution has answered; it runs no more work")


_SPENT = GraphQLResolveInfoHelpers(gather=_spent, track=_spent)


class AcyclicExecution(StrawberryGraphQLCoreExecutionContext):
    """graphql-core's executor refers to itself (its async helpers are its own bound
    methods), so every execution, and the context, loaders and request it holds, waited for
    the cyclic garbage collector: some 70 objects a request, and under load a full
    collection of 20-80 ms every second or two, the latency tail. Once the response is
    built the loop is cut, and a request is freed as soon as it is answered."""

    def build_response(self, data: dict[str, Any] | None) -> Any:
        response = super().build_response(data)
        if isinstance(response, ExecutionResult):  # incremental delivery keeps running
            self.async_helpers = _SPENT
        return response


class CoinsSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Log what went wrong on our side; a client's bad input is not an incident."""
        for error in errors:
            if is_unexpected(error):
                StrawberryLogger.error(error, execution_context)


@dataclass(slots=True)
class _Checked:
    document: DocumentNode
    errors: list[GraphQLError] | None = None  # None until validated


class Documents:
    """Each distinct document text parsed and validated once per schema (bounded, LRU)."""

    def __init__(self, maxsize: int) -> None:
        self._maxsize = maxsize
        self._entries: OrderedDict[str, _Checked] = OrderedDict()

    def get(self, query: str) -> _Checked | None:
        entry = self._entries.get(query)
        if entry is not None:
            self._entries.move_to_end(query)
        return entry

    def put(self, query: str, entry: _Checked) -> None:
        self._entries[query] = entry
        if len(self._entries) > self._maxsize:
            self._entries.popitem(last=False)


class CheckedOperations(SchemaExtension):
    """The limits and the caches in one extension, since each extension costs every request
    a hook per phase: the token limit on parsing, the schema's validation rules (depth,
    aliases, no introspection in production), and a parse and a validation per distinct
    document, reused by every later request that sends the same text."""

    def __init__(
        self, documents: Documents, rules: Sequence[type[ASTValidationRule]], max_tokens: int
    ) -> None:
        super().__init__()
        self._documents = documents
        self._rules = rules
        self._max_tokens = max_tokens

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        context.parse_options["max_tokens"] = self._max_tokens
        context.validation_rules = (*context.validation_rules, *self._rules)
        yield

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        known = self._documents.get(context.query) if context.query else None
        if known is not None:
            context.graphql_document = known.document
        yield
        if known is None and context.query and context.graphql_document is not None:
            self._documents.put(context.query, _Checked(context.graphql_document))

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        known = self._documents.get(context.query) if context.query else None
        if known is not None and known.errors is not None:
            context.pre_execution_errors = known.errors
        yield
        if known is not None and known.errors is None:
            known.errors = context.pre_execution_errors or []


def build_schema(settings: Settings) -> strawberry.Schema:
    limits = settings.graphql
    # The limiters' rule classes are made here, once: a limiter makes new classes each time
    # it is built, so rules built per request could never share a validated document.
    rules: list[type[ASTValidationRule]] = [
        *QueryDepthLimiter(max_depth=limits.max_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=limits.max_aliases).validation_rules,
    ]
    if settings.is_production:
        rules.append(NoSchemaIntrospectionCustomRule)
    documents = Documents(CACHE_SIZE)
    # Factories, not instances: extensions keep per-request state.
    extensions: list[Callable[[], SchemaExtension]] = [
        lambda: CheckedOperations(documents, rules, limits.max_tokens),
        DomainAwareMaskErrors,
    ]
    return CoinsSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,
        execution_context_class=AcyclicExecution,
        config=StrawberryConfig(disable_field_suggestions=settings.is_production),
    )


def schema_sdl() -> str:
    return build_schema(Settings()).as_str() + "\n"


def write_schema(path: Path) -> None:
    path.write_text(schema_sdl())

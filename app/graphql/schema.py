"""The schema: each domain's Query and Mutation types merged, hardened by settings."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from inspect import isawaitable
from pathlib import Path
from typing import Any

import strawberry
from graphql import (
    ASTValidationRule,
    DocumentNode,
    ExecutionResult,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    execute,
    parse,
    specified_rules,
)
from graphql.type.definition import GraphQLResolveInfoHelpers
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.exceptions import MissingQueryError
from strawberry.execution import optimized_is_awaitable
from strawberry.extensions import MaxAliasesLimiter, QueryDepthLimiter, SchemaExtension
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.schema.schema import (
    DEFAULT_ALLOWED_OPERATION_TYPES,
    StrawberryGraphQLCoreExecutionContext,
    validate_document,
)
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext
from strawberry.types import ExecutionResult as StrawberryExecutionResult
from strawberry.types.graphql import OperationType
from strawberry.utils.logging import StrawberryLogger
from strawberry.utils.operation import get_operation_type
from structlog.contextvars import bind_contextvars

from app.graphql.cost import query_cost_rule
from app.graphql.errors import DomainAwareMaskErrors, is_unexpected, masked
from app.graphql.fanout import SharedRenders
from app.graphql.inputs import plan_inputs
from app.graphql.persisted import NOT_REGISTERED, sha256_of
from app.graphql.rules import OneSignInPerOperation
from app.graphql.types.economy import EconomyQuery
from app.graphql.types.fraud import FraudMutation
from app.graphql.types.gifts import GiftsMutation, GiftsQuery
from app.graphql.types.nodes import MAX_LEADERBOARD
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
_NOT_REGISTERED = GraphQLError(
    "Only registered persisted queries run here: send the sha256 of a registered document "
    "in extensions.persistedQuery.",
    extensions={"code": NOT_REGISTERED},
)


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

    def execute_operation(self, serially: bool | None = None) -> Any:
        """A live-feed event (a root value with ``renders``) is rendered once per selection
        and shared by the subscribers it fits (``app.graphql.fanout``)."""
        renders = getattr(self.root_value, "renders", None)
        if serially is not False or not isinstance(renders, SharedRenders):
            return super().execute_operation(serially)
        return self._render_shared(renders)

    async def _render_shared(self, renders: SharedRenders) -> ExecutionResult:
        viewer_id = await self.context_value.fanout_viewer_id()

        async def execute() -> ExecutionResult:
            result = super(AcyclicExecution, self).execute_operation(False)
            return await result if isawaitable(result) else result  # type: ignore[no-any-return]

        return await renders.render(
            self.operation,
            self.variable_values.coerced,
            viewer_id,
            execute,
        )


@dataclass(slots=True)
class _Checked:
    """A document text once parsed and validated: the document (None if it does not parse)
    and the errors a client gets for it (empty when it may run)."""

    document: DocumentNode | None
    errors: list[GraphQLError]


class Checks:
    """The limits (tokens, depth, aliases, one sign-in per operation, no introspection in
    production) applied once per distinct document text: a bounded LRU of parsed and
    validated documents, reused by every later request that sends the same text."""

    def __init__(
        self,
        rules: Sequence[type[ASTValidationRule]],
        max_tokens: int,
        maxsize: int,
        registered: Collection[str] | None = None,
    ) -> None:
        self.rules = (*specified_rules, *rules)
        self.max_tokens = max_tokens
        self._maxsize = maxsize
        # sha256s of the only documents that may run (a persisted queries manifest), if any.
        self.registered = frozenset(registered) if registered is not None else None
        self._entries: OrderedDict[str, _Checked] = OrderedDict()

    def check(self, schema: GraphQLSchema, query: str) -> _Checked:
        entry = self._entries.get(query)
        if entry is not None:
            self._entries.move_to_end(query)
            return entry
        try:
            document = parse(query, max_tokens=self.max_tokens)
        except GraphQLError as error:
            entry = _Checked(None, [error])
        else:
            entry = _Checked(document, validate_document(schema, document, self.rules))
            if self.registered is not None and sha256_of(query) not in self.registered:
                entry.errors = [_NOT_REGISTERED]
        self._entries[query] = entry
        if len(self._entries) > self._maxsize:
            self._entries.popitem(last=False)
        return entry


def bind_operation(name: str | None, document: DocumentNode | None) -> None:
    """Every later log line of the request (or of the subscription, in its own task) names
    its GraphQL operation: ``name`` when the client sent one, else the document's first."""
    if name is None and document is not None:
        for definition in document.definitions:
            if isinstance(definition, OperationDefinitionNode):
                name = definition.name.value if definition.name else None
                break
    if name is not None:
        bind_contextvars(graphql_operation=name)


class CheckedOperations(SchemaExtension):
    """The checks on Strawberry's own road (subscriptions, GraphiQL, GET, batches), where
    they must be an extension; ``CoinsSchema.execute`` applies the same ``Checks`` itself."""

    def __init__(self, checks: Checks) -> None:
        super().__init__()
        self._checks = checks
        self._checked: _Checked | None = None

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        context.parse_options["max_tokens"] = self._checks.max_tokens
        context.validation_rules = self._checks.rules
        yield

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        if context.query:
            self._checked = self._checks.check(context.schema._schema, context.query)
            bind_operation(context.operation_name, self._checked.document)
            # A text that does not parse is parsed again by Strawberry, which words the error.
            context.graphql_document = self._checked.document
        yield

    def on_validate(self) -> Iterator[None]:
        if self._checked is not None and self._checked.document is not None:
            self.execution_context.pre_execution_errors = list(self._checked.errors)
        yield


class CoinsSchema(strawberry.Schema):
    """Strawberry's schema with one shorter road for ``execute`` (every query and mutation
    over HTTP): each extension costs a request a context manager per phase and hook lookups,
    about half the cost of a small operation, so the checks and the error masking run here
    directly, the same ``Checks`` and ``masked`` the extensions use on the other roads."""

    def __init__(self, *args: Any, checks: Checks, tracing: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.checks = checks
        # Traced, every operation takes Strawberry's road, where its OpenTelemetry
        # extension runs; untraced, this flag is all the short road pays.
        self.tracing = tracing

    @staticmethod
    def remove_field_suggestion(error: GraphQLError) -> None:
        """Every suggestion, not only Strawberry's one for fields: unknown arguments, enum
        values and type names are answered with names from the schema too, which production
        keeps to itself (called only when ``disable_field_suggestions`` is on)."""
        if "Did you mean" in error.message:
            error.message = error.message.split("Did you mean")[0].strip()

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Log what went wrong on our side; a client's bad input is not an incident."""
        for error in errors:
            if is_unexpected(error):
                StrawberryLogger.error(error, execution_context)

    async def execute(  # Strawberry's signature
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        allowed_operation_types: Iterable[OperationType] | None = None,
        operation_extensions: dict[str, Any] | None = None,
    ) -> StrawberryExecutionResult:
        if self.tracing:
            return await super().execute(
                query,
                variable_values,
                context_value,
                root_value,
                operation_name,
                allowed_operation_types,
                operation_extensions,
            )
        if not query:
            raise MissingQueryError
        checked = self.checks.check(self._schema, query)
        bind_operation(operation_name, checked.document)
        if checked.document is None:
            return self._refused(checked.errors)
        try:
            operation_type = get_operation_type(checked.document, operation_name)
        except RuntimeError as error:
            raise CannotGetOperationTypeError(operation_name) from error
        if operation_type not in (allowed_operation_types or DEFAULT_ALLOWED_OPERATION_TYPES):
            raise InvalidOperationTypeError(operation_type)
        if checked.errors:
            return self._refused(checked.errors)
        try:
            result = execute(
                self._schema,
                checked.document,
                root_value=root_value,
                context_value=context_value,
                variable_values=variable_values,
                operation_name=operation_name,
                is_awaitable=optimized_is_awaitable,
                executor_class=self.execution_context_class,
                operation_extensions=operation_extensions,
            )
            if isawaitable(result):
                result = await result
        except Exception as error:  # Strawberry answers these the same way
            result = ExecutionResult(None, [GraphQLError(str(error), original_error=error)])
        errors = result.errors
        if errors:
            self._process_errors(errors)
            errors = masked(errors)
        return StrawberryExecutionResult(data=result.data, errors=errors)

    def _refused(self, errors: list[GraphQLError]) -> StrawberryExecutionResult:
        """A document that may not run; ``_process_errors`` drops field suggestions in
        production (idempotent on the cached errors)."""
        self._process_errors(errors)
        return StrawberryExecutionResult(data=None, errors=errors)


def build_schema(
    settings: Settings,
    registered: Collection[str] | None = None,
    *,
    tracing: Callable[[], SchemaExtension] | None = None,
) -> strawberry.Schema:
    """The schema for ``settings``; ``registered``: the sha256s of the only documents that
    may run (persisted queries only), ``tracing``: the OpenTelemetry extension's factory
    when traces are on."""
    limits = settings.graphql
    # The limiters' rule classes are made here, once: a limiter makes new classes each time
    # it is built, so rules built per request could never share a validated document.
    rules: list[type[ASTValidationRule]] = [
        *QueryDepthLimiter(max_depth=limits.max_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=limits.max_aliases).validation_rules,
        OneSignInPerOperation,
        query_cost_rule(limits.max_cost, max(limits.max_page_size, MAX_LEADERBOARD)),
    ]
    if settings.is_production:
        rules.append(NoSchemaIntrospectionCustomRule)
    checks = Checks(rules, limits.max_tokens, CACHE_SIZE, registered)
    # Factories, not instances: extensions keep per-request state.
    extensions: list[Callable[[], SchemaExtension]] = [
        lambda: CheckedOperations(checks),
        DomainAwareMaskErrors,
    ]
    if tracing is not None:
        extensions.insert(0, tracing)
    schema = CoinsSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,
        execution_context_class=AcyclicExecution,
        config=StrawberryConfig(disable_field_suggestions=settings.is_production),
        checks=checks,
        tracing=tracing is not None,
    )
    plan_inputs(schema)
    return schema


def schema_sdl() -> str:
    return build_schema(Settings()).as_str() + "\n"


def write_schema(path: Path) -> None:
    path.write_text(schema_sdl())

"""The query cost limit: how many objects an operation could make the server build, at most.

Depth, alias and token limits bound a document's size, not its answer: three nested
``recentGifts(first: 100)`` are 170 bytes and a million objects. The cost multiplies list
sizes down the tree and is known from the document alone, so it runs as a validation rule,
checked once per distinct document text (``Checks`` caches the outcome) and never on the
request path again.

- Every object (composite-typed field value) counts one; leaves are free: they come with
  the object that holds them.
- A field with a ``first`` argument returns ``first`` items: the literal, else the schema's
  default; a variable counts the largest page the field allows, so the outcome does not
  depend on variables. On a connection the size applies to its list fields (``edges``).
- Any other list counts ``list_size`` items (the largest page size: an upper guess).
- Fragments and inline fragments count where they are spread; introspection (``__*``)
  is free (in-memory, and off in production).
"""

from __future__ import annotations

from typing import Any

from graphql import (
    ASTValidationRule,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    get_nullable_type,
    is_composite_type,
    is_list_type,
)
from graphql.language import VisitorAction
from graphql.type import GraphQLNamedType

QUERY_TOO_COSTLY = "QUERY_TOO_COSTLY"
PAGE_ARGUMENT = "first"


def query_cost_rule(max_cost: int, max_page_size: int) -> type[ASTValidationRule]:
    """A rule class for ``max_cost``, made once per schema so cached validations stay valid."""

    class QueryCostRule(ASTValidationRule):
        def enter_operation_definition(
            self, node: OperationDefinitionNode, *_: Any
        ) -> VisitorAction:
            cost = operation_cost(self.context.schema, self.context.document, node, max_page_size)
            if cost > max_cost:
                name = f"Operation '{node.name.value}'" if node.name else "This operation"
                self.report_error(
                    GraphQLError(
                        f"{name} could return up to {cost} objects; the limit is {max_cost}. "
                        "Ask for smaller pages (first) or nest fewer lists.",
                        node,
                        extensions={"code": QUERY_TOO_COSTLY, "cost": cost, "limit": max_cost},
                    )
                )
            return None

    return QueryCostRule


def operation_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    max_page_size: int,
) -> int:
    """The most objects ``operation`` could build; a variable ``first`` counts ``max_page_size``."""
    root = _root_type(schema, operation.operation)
    if root is None:
        return 0
    fragments = {
        definition.name.value: definition
        for definition in document.definitions
        if isinstance(definition, FragmentDefinitionNode)
    }
    return _Cost(schema, fragments, max_page_size).selections(operation.selection_set, root, 1)


def _root_type(schema: GraphQLSchema, operation: OperationType) -> GraphQLObjectType | None:
    if operation == OperationType.QUERY:
        return schema.query_type
    if operation == OperationType.MUTATION:
        return schema.mutation_type
    return schema.subscription_type


class _Cost:
    """One operation's cost; unknown fields and types count nothing (other rules name them)."""

    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: dict[str, FragmentDefinitionNode],
        max_page_size: int,
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.max_page_size = max_page_size
        self._spreading: set[str] = set()

    def selections(
        self, selection_set: SelectionSetNode | None, parent: GraphQLNamedType, times: int
    ) -> int:
        """Objects built for ``selection_set`` on ``times`` values of ``parent``."""
        return self._selections(selection_set, parent, times, page=None)

    def _selections(
        self,
        selection_set: SelectionSetNode | None,
        parent: GraphQLNamedType,
        times: int,
        page: int | None,
    ) -> int:
        if selection_set is None:
            return 0
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += self._field(selection, parent, times, page)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                on = self.schema.get_type(condition.name.value) if condition else parent
                if on is not None:
                    total += self._selections(selection.selection_set, on, times, page)
            elif isinstance(selection, FragmentSpreadNode):
                total += self._spread(selection, times, page)
        return total

    def _spread(self, spread: FragmentSpreadNode, times: int, page: int | None) -> int:
        name = spread.name.value
        fragment = self.fragments.get(name)
        if fragment is None or name in self._spreading:  # NoFragmentCycles names it
            return 0
        on = self.schema.get_type(fragment.type_condition.name.value)
        if on is None:
            return 0
        self._spreading.add(name)
        try:
            return self._selections(fragment.selection_set, on, times, page)
        finally:
            self._spreading.discard(name)

    def _field(
        self, node: FieldNode, parent: GraphQLNamedType, times: int, page: int | None
    ) -> int:
        name = node.name.value
        fields = getattr(parent, "fields", None)
        if name.startswith("__") or fields is None or name not in fields:
            return 0
        definition = fields[name]
        field_type = get_nullable_type(definition.type)  # type: ignore[arg-type]
        named = get_named_type(field_type)
        if not is_composite_type(named):
            return 0
        size = self._page_size(node, definition) if PAGE_ARGUMENT in definition.args else None
        count = times
        if is_list_type(field_type):
            # A list under a connection holds the connection's page; any other list, a guess.
            count *= size if size is not None else page if page is not None else self.max_page_size
            size = None
        return count + self._selections(node.selection_set, named, count, size)

    def _page_size(self, node: FieldNode, definition: Any) -> int:
        for argument in node.arguments or ():
            if argument.name.value == PAGE_ARGUMENT:
                if isinstance(argument.value, IntValueNode):
                    return max(0, int(argument.value.value))
                if isinstance(argument.value, VariableNode):
                    return self.max_page_size
                return 0  # not an Int: the type rules refuse it
        default = definition.args[PAGE_ARGUMENT].default_value
        return default if isinstance(default, int) and default >= 0 else self.max_page_size

"""Validation rules of our own, checked once per document text (``Documents`` caches them).

``OneSignInPerOperation``: an operation may call ``logIn`` or ``signUp`` once. Aliases
made one HTTP request worth 30 password guesses and 30 argon2 hashes; now a second call,
however it is spelt (aliases, both fields, fragments), refuses the document before any
resolver runs.
"""

from __future__ import annotations

from typing import Any

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    ValidationRule,
)

from app.core.errors import ErrorCode

SIGN_IN_FIELDS = frozenset({"logIn", "signUp"})


class OneSignInPerOperation(ValidationRule):
    def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
        if node.operation is not OperationType.MUTATION:
            return
        calls = self._sign_ins(node.selection_set, set())
        if calls > 1:
            self.report_error(
                GraphQLError(
                    f"One logIn or signUp per request: this operation has {calls}. "
                    "Send each in a request of its own.",
                    node,
                    extensions={"code": ErrorCode.INVALID_INPUT.value},
                )
            )

    def _sign_ins(self, selections: SelectionSetNode | None, seen: set[str]) -> int:
        """The sign-in fields among the root's selections, through fragments, each once."""
        calls = 0
        for selection in selections.selections if selections else ():
            if isinstance(selection, FieldNode):
                calls += selection.name.value in SIGN_IN_FIELDS
            elif isinstance(selection, InlineFragmentNode):
                calls += self._sign_ins(selection.selection_set, seen)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.context.get_fragment(name)
                if fragment is not None and name not in seen:
                    seen.add(name)  # a cycle is reported by NoFragmentCyclesRule
                    calls += self._sign_ins(fragment.selection_set, seen)
        return calls

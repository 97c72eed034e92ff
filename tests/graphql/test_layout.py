"""The GraphQL edge stays thin: short resolvers, and modules that do not import each other."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import app.graphql

PACKAGE = Path(app.graphql.__file__).parent
MAX_RESOLVER_LINES = 10
# ``feed=`` and ``fraud=`` leave send_gift's call when the after-commit hooks land.
ALLOWED: dict[str, int] = {}


def modules() -> dict[str, ast.Module]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = ast.parse(path.read_text(), str(path))
    return found


def imported(tree: ast.Module, names: set[str]) -> set[str]:
    """Every module of ``names`` that ``tree`` imports, at the top, in a function or for types."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.add(node.value)  # strawberry.lazy("app.graphql.types.x") hides an import
    return found & names


def cycle_from(start: str, graph: dict[str, set[str]]) -> list[str] | None:
    def walk(path: list[str]) -> list[str] | None:
        for target in sorted(graph[path[-1]]):
            if target == start:
                return [*path, target]
            if target not in path and (found := walk([*path, target])):
                return found
        return None

    return walk([start])


def resolvers(tree: ast.Module) -> Iterator[ast.AsyncFunctionDef | ast.FunctionDef]:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and any(
            "field" in ast.unparse(d)
            or "mutation" in ast.unparse(d)
            or "subscription" in ast.unparse(d)
            for d in node.decorator_list
        ):
            yield node


def test_no_module_of_the_graphql_package_imports_itself_back() -> None:
    trees = modules()
    graph = {
        name: imported(tree, set(trees)) - {name, "app.graphql"} for name, tree in trees.items()
    }

    cycles = [cycle for name in graph if (cycle := cycle_from(name, graph))]

    assert cycles == []


def test_every_resolver_is_ten_lines_or_fewer() -> None:
    sizes = {
        node.name: node.end_lineno - node.body[0].lineno + 1  # type: ignore[operator]
        for tree in modules().values()
        for node in resolvers(tree)
    }

    assert len(sizes) > 60
    too_long = {
        name: size for name, size in sizes.items() if size > ALLOWED.get(name, MAX_RESOLVER_LINES)
    }
    assert too_long == {}


def test_the_cycle_check_sees_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}

    assert cycle_from("a", graph) == ["a", "b", "c", "a"]
    assert cycle_from("d", graph) is None

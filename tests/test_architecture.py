"""The layer order and table ownership, checked from the source (no app import needed).

Layers, lowest first; a package imports only packages of lower layers (the foundation and
the edge may also import within their own layer):

    core, settings, piccolo_conf -> ledger, audit, sign_in -> users -> staff, streams, spending
    -> gifts, offers, purchases -> payouts -> fraud
    -> web, graphql, admin, cli, main, seed, wiring, integrity, observability

Every table belongs to the package whose ``tables.py`` declares it. Other packages call
that package's functions: they never import its ``tables`` module or name its table in
SQL. Migrations are history and are not checked.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

LAYERS: list[tuple[str, ...]] = [
    ("core", "settings", "piccolo_conf"),
    ("ledger", "audit", "sign_in"),
    ("users",),
    ("staff", "streams", "spending"),
    ("gifts", "offers", "purchases"),
    ("payouts",),
    ("fraud",),
    ("web", "graphql", "admin", "cli", "main", "seed", "wiring", "integrity", "observability"),
]
# Layers whose members may import each other: the foundation, and the edge that composes.
OPEN_LAYERS = {0, len(LAYERS) - 1}
SQL_TABLE = re.compile(r"\b(?:FROM|JOIN|INTO|UPDATE|TABLE)\s+([a-z_][a-z0-9_]*)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Violation:
    module: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.module}:{self.line}: {self.message}"


def _layer_of(package: str) -> int:
    for number, members in enumerate(LAYERS):
        if package in members:
            return number
    raise KeyError(f"package {package!r} has no layer: add it to LAYERS")


def _modules(root: Path) -> list[Path]:
    return sorted(
        path
        for path in (root / "app").rglob("*.py")
        if "piccolo_migrations" not in path.parts
        and "__pycache__" not in path.parts
        and path != root / "app" / "__init__.py"
    )


def _package_of(root: Path, path: Path) -> str:
    parts = path.relative_to(root / "app").parts
    return parts[0].removesuffix(".py")


def _imported(node: ast.AST) -> list[str]:
    """Dotted names of ``app`` modules an import statement brings in."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names if alias.name.startswith("app.")]
    if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
        if node.module == "app":
            return [f"app.{alias.name}" for alias in node.names]
        if node.module.startswith("app."):
            return [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
    return []


def _owners(root: Path) -> tuple[dict[str, str], dict[str, str]]:
    """Table name -> owning package, and ``app.<pkg>.tables`` class name -> package."""
    tables: dict[str, str] = {}
    classes: dict[str, str] = {}
    for path in (root / "app").glob("*/tables.py"):
        package = path.parent.name
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                for keyword in node.keywords:
                    if keyword.arg == "tablename" and isinstance(keyword.value, ast.Constant):
                        tables[str(keyword.value.value)] = package
                        classes[node.name] = package
    return tables, classes


def check_architecture(root: Path) -> list[Violation]:
    """Every upward import and every use of another package's table under ``root/app``."""
    tables, _ = _owners(root)
    found: list[Violation] = []
    for path in _modules(root):
        package = _package_of(root, path)
        layer = _layer_of(package)
        module = str(path.relative_to(root))
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            for name in _imported(node):
                parts = name.split(".")
                other = parts[1]
                known = (root / "app" / other).is_dir() or (root / "app" / f"{other}.py").exists()
                if other == package or not known:
                    continue
                other_layer = _layer_of(other)
                if len(parts) > 2 and parts[2] == "tables":
                    found.append(Violation(module, node.lineno, f"imports {other}'s tables"))
                elif other_layer > layer or (other_layer == layer and layer not in OPEN_LAYERS):
                    found.append(
                        Violation(
                            module,
                            node.lineno,
                            f"{package} (layer {layer}) imports {other} (layer {other_layer})",
                        )
                    )
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                for table in SQL_TABLE.findall(node.value):
                    owner = tables.get(table.lower())
                    if owner is not None and owner != package:
                        found.append(
                            Violation(module, node.lineno, f"names {owner}'s table {table} in SQL")
                        )
    return sorted(set(found), key=lambda v: (v.module, v.line, v.message))


def test_the_app_keeps_its_layers_and_table_owners() -> None:
    root = Path(__file__).resolve().parents[1]
    violations = check_architecture(root)
    assert violations == [], "\n".join(map(str, violations))


def test_every_package_has_a_layer() -> None:
    root = Path(__file__).resolve().parents[1]
    for path in _modules(root):
        _layer_of(_package_of(root, path))


# The checker itself, on a small package tree made for the purpose --------------------


def _write(root: Path, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def small_app(tmp_path: Path) -> Path:
    """A lawful tree: gifts use the ledger's functions and their own table."""
    _write(tmp_path, "app/__init__.py", "")
    _write(tmp_path, "app/core/errors.py", "class DomainError(Exception): ...\n")
    _write(
        tmp_path,
        "app/ledger/tables.py",
        "from piccolo.table import Table\n\n\nclass Transfer(Table, tablename='ledger_transfer'):"
        "\n    pass\n",
    )
    _write(tmp_path, "app/ledger/service.py", "from app.ledger.tables import Transfer\n")
    _write(
        tmp_path,
        "app/gifts/tables.py",
        "from piccolo.table import Table\n\n\nclass GiftEvent(Table, tablename='gift_event'):"
        "\n    pass\n",
    )
    _write(
        tmp_path,
        "app/gifts/service.py",
        "from app import ledger\nfrom app.core.errors import DomainError\n\n"
        "QUERY = 'SELECT * FROM gift_event WHERE id = {}'\n",
    )
    _write(tmp_path, "app/fraud/rules.py", "from app.gifts import service\n")
    _write(
        tmp_path,
        "app/gifts/piccolo_migrations/m1.py",
        "DDL = 'CREATE TABLE gift_event (x BIGINT REFERENCES ledger_transfer (id))'\n",
    )
    return tmp_path


def test_a_lawful_tree_passes(small_app: Path) -> None:
    assert check_architecture(small_app) == []


def test_an_upward_import_fails_and_is_named(small_app: Path) -> None:
    _write(small_app, "app/gifts/bad.py", "def f() -> None:\n    from app.fraud import rules\n")

    assert [str(v) for v in check_architecture(small_app)] == [
        "app/gifts/bad.py:2: gifts (layer 4) imports fraud (layer 6)"
    ]


def test_an_import_within_a_closed_layer_fails(small_app: Path) -> None:
    _write(small_app, "app/offers/service.py", "from app.gifts import service\n")

    assert [str(v) for v in check_architecture(small_app)] == [
        "app/offers/service.py:1: offers (layer 4) imports gifts (layer 4)"
    ]


def test_another_packages_table_fails_in_sql_and_as_an_import(small_app: Path) -> None:
    _write(
        small_app,
        "app/gifts/statements.py",
        "from app.ledger.tables import Transfer\n\n"
        "SQL = 'SELECT amount FROM ledger_transfer WHERE id = {}'\n",
    )

    assert [str(v) for v in check_architecture(small_app)] == [
        "app/gifts/statements.py:1: imports ledger's tables",
        "app/gifts/statements.py:3: names ledger's table ledger_transfer in SQL",
    ]

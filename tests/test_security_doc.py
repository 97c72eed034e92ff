"""docs/SECURITY.md names the test behind each defence: a renamed or deleted test must not
leave the page pointing at nothing."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def named_tests() -> list[tuple[str, str]]:
    """Each ``path::name`` of the page; a bare ``::name`` continues the path before it."""
    text = (ROOT / "docs" / "SECURITY.md").read_text()
    found: list[tuple[str, str]] = []
    path = ""
    for match in re.finditer(r"`(?:(tests/[\w/]+\.py))?::(\w+)", text):
        path = match.group(1) or path
        found.append((path, match.group(2)))
    return found


def test_every_test_the_security_page_names_exists() -> None:
    named = named_tests()
    missing = [
        f"{path}::{name}"
        for path, name in named
        if not (ROOT / path).is_file()
        or not re.search(rf"^(async )?def {name}\(", (ROOT / path).read_text(), re.M)
    ]

    assert len(named) > 60
    assert missing == []

"""Counting the SQL statements a request runs, for tests of constant query counts."""

from __future__ import annotations

from typing import Any

import pytest
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine

# The app's settler looks at its queue and claims from it on its own timer, and the
# metrics sample it (``watch_settlement``): none of it is the request's work.
SETTLER_POLLS = (
    "EXISTS (SELECT 1 FROM gift_credit)",
    "FROM gift_credit WHERE id IN",
    'FROM "gift_credit" ORDER BY "gift_credit"."id"',
    'COUNT(*) AS "count" FROM "gift_credit"',
)


def count_statements(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A list that receives the text of every statement Piccolo runs from now on (but the
    settler's idle poll), on either database; clear it before the request to count."""
    statements: list[str] = []

    def counting(original: Any) -> Any:
        async def run_querystring(self: Any, querystring: Any, in_pool: bool = True) -> Any:
            text = str(querystring)
            if not any(poll in text for poll in SETTLER_POLLS):
                statements.append(text)
            return await original(self, querystring, in_pool)

        return run_querystring

    for engine in (SQLiteEngine, PostgresEngine):
        monkeypatch.setattr(engine, "run_querystring", counting(engine.run_querystring))
    return statements

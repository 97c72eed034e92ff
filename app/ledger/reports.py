"""Read-only figures over the ledger for the admin dashboard and statements."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta

from app.core.clock import utcnow
from app.core.database import is_sqlite
from app.ledger.codes import TransferKind
from app.ledger.tables import Transfer


def _day_expression() -> str:
    # Timestamps are stored in UTC on both engines; a day is a UTC day.
    if is_sqlite():
        return "substr(created_at, 1, 10)"
    return "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')"


async def daily_totals(
    days: int, now: datetime | None = None
) -> dict[date, dict[TransferKind, tuple[int, int]]]:
    """Per UTC day of the last ``days`` days (today included): (transfer count, amount) by kind."""
    today = (now or utcnow()).date()
    first = today - timedelta(days=days - 1)
    since = datetime.combine(first, datetime.min.time(), tzinfo=(now or utcnow()).tzinfo)
    day = _day_expression()
    rows = await Transfer.raw(
        f"SELECT {day} AS day, kind, COUNT(*) AS transfers, SUM(amount) AS amount "  # noqa: S608
        "FROM ledger_transfer WHERE created_at >= {} GROUP BY 1, 2",
        since,
    )
    totals: dict[date, dict[TransferKind, tuple[int, int]]] = defaultdict(dict)
    for offset in range(days):
        totals[first + timedelta(days=offset)] = {}
    for row in rows:
        totals[date.fromisoformat(row["day"])][TransferKind(row["kind"])] = (
            int(row["transfers"]),
            int(row["amount"]),
        )
    return dict(totals)

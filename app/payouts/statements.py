"""Creator statements: a month of a creator's diamonds, itemised, adding up to the ledger.

Every line comes from the creator's DIAMOND ledger account: gift credits are grouped by
stream and gift (through the gift event each ledger operation recorded), other credits
and debits (payout holds, releases, adjustments) are listed, and the opening balance plus
credits minus debits equals the closing balance, which is the balance the ledger recorded
after the month's last transfer. Months are UTC.
"""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from app import ledger
from app.core.errors import DomainError, ErrorCode
from app.core.money import Money
from app.gifts import catalog, settlement
from app.gifts import queries as gift_events
from app.ledger import Currency, TransferKind
from app.payouts.queries import list_payouts
from app.payouts.records import PayoutRecord, cash_amount
from app.settings import EconomySettings
from app.streams import service as streams
from app.users.service import UserRecord


@dataclass(frozen=True, slots=True)
class GiftLine:
    stream_id: int
    stream_title: str
    gift_name: str
    sends: int
    quantity: int
    diamonds: int


@dataclass(frozen=True, slots=True)
class GiftDayLine:
    """Gifts of one kind whose diamonds reached the creator on one UTC day (the ledger's
    day, so a gift sent just before midnight and settled after counts on the later day)."""

    day: date
    gift_name: str
    sends: int
    quantity: int
    diamonds: int


@dataclass(frozen=True, slots=True)
class LedgerLine:
    at: datetime
    kind: TransferKind
    diamonds: int  # signed, as it moved the creator's balance
    description: str


@dataclass
class Statement:
    creator: UserRecord
    month: str
    opening_diamonds: int
    closing_diamonds: int
    gifts: list[GiftLine] = field(default_factory=list)
    other: list[LedgerLine] = field(default_factory=list)
    payouts: list[PayoutRecord] = field(default_factory=list)
    cash_value_of_closing: Money | None = None
    # The same gifts as ``gifts``, grouped by day and gift instead of stream and gift.
    gifts_by_day: list[GiftDayLine] = field(default_factory=list)

    @property
    def gift_diamonds(self) -> int:
        return sum(line.diamonds for line in self.gifts)

    def total(self, kind: TransferKind) -> int:
        return sum(line.diamonds for line in self.other if line.kind is kind)

    @property
    def net_change(self) -> int:
        return self.gift_diamonds + sum(line.diamonds for line in self.other)


_MONTH = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """Strictly YYYY-MM in ASCII digits: ``int`` would accept spaces, CR/LF and other
    scripts' digits, and the month ends up in a download's file name (a header)."""
    if not _MONTH.fullmatch(month):
        raise DomainError(ErrorCode.INVALID_INPUT, "Give the month as YYYY-MM.", "month")
    year, number = int(month[:4]), int(month[5:])
    try:
        start = datetime(year, number, 1, tzinfo=UTC)
    except ValueError:
        raise DomainError(ErrorCode.INVALID_INPUT, "Give the month as YYYY-MM.", "month") from None
    end = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=UTC)
    return start, end


async def creator_statement(creator: UserRecord, month: str, economy: EconomySettings) -> Statement:
    start, end = month_bounds(month)
    history = await ledger.account_history(creator.id, Currency.DIAMOND, since=start, until=end)
    received = [e for e in history.entries if e.kind is TransferKind.GIFT_RECEIVED and e.amount > 0]
    settled = await settlement.events_settled_by([e.transfer_id for e in received])
    events = await gift_events.events_by_ids([i for ids in settled.values() for i in ids])
    names = {
        version_id: gift.name
        for version_id, gift in (
            await catalog.gifts_by_version_ids([e.gift_version_id for e in events.values()])
        ).items()
    }
    titles = {
        stream_id: stream.title
        for stream_id, stream in (
            await streams.streams_by_ids([e.stream_id for e in events.values()])
        ).items()
    }
    grouped: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    by_day: dict[tuple[date, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    other: list[LedgerLine] = []
    for entry in history.entries:
        credited = [events[i] for i in settled.get(entry.transfer_id, []) if i in events]
        if not credited:
            other.append(LedgerLine(entry.created_at, entry.kind, entry.amount, entry.description))
        for event in credited:
            key = (event.stream_id, names.get(event.gift_version_id, "?"))
            grouped[key][0] += 1
            grouped[key][1] += event.quantity
            grouped[key][2] += event.diamonds
            day = by_day[(entry.created_at.astimezone(UTC).date(), key[1])]
            day[0] += 1
            day[1] += event.quantity
            day[2] += event.diamonds
    gifts = [
        GiftLine(stream_id, titles.get(stream_id, ""), name, sends, quantity, diamonds)
        for (stream_id, name), (sends, quantity, diamonds) in sorted(grouped.items())
    ]
    payouts = [
        p
        for p in await list_payouts(creator_id=creator.id, limit=10_000, oldest_first=True)
        if start <= p.requested_at < end
    ]
    return Statement(
        creator=creator,
        month=month,
        opening_diamonds=history.opening,
        closing_diamonds=history.closing,
        gifts=gifts,
        other=other,
        payouts=payouts,
        cash_value_of_closing=cash_amount(max(history.closing, 0), economy.diamond_value),
        gifts_by_day=[
            GiftDayLine(day, name, sends, quantity, diamonds)
            for (day, name), (sends, quantity, diamonds) in sorted(by_day.items())
        ],
    )


def render_text(statement: Statement) -> str:
    s = statement
    lines = [
        f"Statement for {s.creator.display_name} (@{s.creator.handle}), {s.month} (UTC)",
        f"Opening balance: {s.opening_diamonds:,} diamonds",
        "",
        "Gifts received, by stream and gift:",
    ]
    for g in s.gifts:
        lines.append(
            f"  stream {g.stream_id} {g.stream_title!r:30} {g.gift_name:16} "
            f"{g.sends:>5} sends {g.quantity:>6} gifts {g.diamonds:>10,} diamonds"
        )
    lines.append(f"  total {s.gift_diamonds:,} diamonds")
    lines += ["", "Other movements:"]
    for o in s.other:
        lines.append(
            f"  {o.at:%Y-%m-%d %H:%M} {o.kind.value:16} {o.diamonds:>+10,}  {o.description}"
        )
    lines += ["", "Payouts requested this month:"]
    for p in s.payouts:
        lines.append(
            f"  #{p.id} {p.requested_at:%Y-%m-%d} {p.diamonds:>8,} diamonds "
            f"{p.amount.decimal_amount} {p.amount.currency} {p.status.value}"
            + (f" ref {p.payment_reference}" if p.payment_reference else "")
        )
    lines += [
        "",
        f"Held for payouts: {-s.total(TransferKind.PAYOUT_HOLD):,}  "
        f"released: {s.total(TransferKind.PAYOUT_RELEASED):,}",
        f"Closing balance: {s.closing_diamonds:,} diamonds "
        f"(opening {s.opening_diamonds:,} {s.net_change:+,})",
    ]
    if s.cash_value_of_closing is not None:
        money = s.cash_value_of_closing
        lines.append(f"Cash value of the closing balance: {money.decimal_amount} {money.currency}")
    return "\n".join(lines) + "\n"


# A spreadsheet runs a cell that starts with one of these as a formula (or DDE).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(cell: object) -> object:
    """Text cells that a spreadsheet would run as a formula get a leading apostrophe
    (OWASP's CSV injection advice); numbers stay numbers, so negative amounts stay numeric."""
    if isinstance(cell, str) and cell.startswith(_FORMULA_START):
        return "'" + cell
    return cell


class _SafeWriter:
    def __init__(self, out: io.StringIO) -> None:
        self._writer = csv.writer(out)

    def writerow(self, row: list[object]) -> None:
        self._writer.writerow([spreadsheet_safe(cell) for cell in row])


def render_csv(statement: Statement) -> str:
    """Every text cell (stream titles, gift names, descriptions, references) passes
    ``spreadsheet_safe``: creators and viewers write some of them."""
    out = io.StringIO()
    writer = _SafeWriter(out)
    s = statement
    writer.writerow(
        [
            "section",
            "when",
            "stream_id",
            "stream",
            "item",
            "sends",
            "quantity",
            "diamonds",
            "status",
            "reference",
        ]
    )
    writer.writerow(["opening", f"{s.month}-01", "", "", "", "", "", s.opening_diamonds, "", ""])
    for g in s.gifts:
        writer.writerow(
            [
                "gift",
                "",
                g.stream_id,
                g.stream_title,
                g.gift_name,
                g.sends,
                g.quantity,
                g.diamonds,
                "",
                "",
            ]
        )
    for o in s.other:
        writer.writerow(
            [
                "ledger",
                o.at.isoformat(),
                "",
                "",
                o.kind.value,
                "",
                "",
                o.diamonds,
                "",
                o.description,
            ]
        )
    for p in s.payouts:
        writer.writerow(
            [
                "payout",
                p.requested_at.isoformat(),
                "",
                "",
                f"payout #{p.id}",
                "",
                "",
                p.diamonds,
                p.status.value,
                p.payment_reference or "",
            ]
        )
    writer.writerow(["closing", "", "", "", "", "", "", s.closing_diamonds, "", ""])
    return out.getvalue()

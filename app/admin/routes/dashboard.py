"""The dashboard: today's and the last 30 days' figures, with SVG charts."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from litestar import Controller, Request, get
from litestar.response import Template

from app import ledger
from app.admin.charts import bar_chart
from app.admin.pages import render
from app.fraud import service as fraud
from app.ledger.codes import TransferKind
from app.payouts import queries as payouts
from app.purchases import buying as purchases
from app.staff.service import Role

DAYS = 30


class DashboardController(Controller):
    path = "/admin"

    @get("/", opt={"roles": [Role.CATALOG, Role.MODERATOR, Role.FINANCE]})
    async def dashboard(self, request: Request[Any, Any, Any]) -> Template:
        totals = await ledger.daily_totals(DAYS)
        days = sorted(totals)
        today = totals[days[-1]]

        def amount(day: dict, kind: TransferKind) -> int:
            return day.get(kind, (0, 0))[1]

        def count(day: dict, kind: TransferKind) -> int:
            return day.get(kind, (0, 0))[0]

        figures = [
            ("Coins sold", TransferKind.PURCHASE, amount),
            ("Gifts sent", TransferKind.GIFT_SENT, count),
            ("Coins spent on gifts", TransferKind.GIFT_SENT, amount),
            ("Diamonds issued", TransferKind.GIFT_RECEIVED, amount),
            ("Diamonds paid out", TransferKind.PAYOUT_PAID, amount),
            ("Coins clawed back", TransferKind.REFUND_CLAWBACK, amount),
        ]
        rows = [
            {
                "label": label,
                "today": measure(today, kind),
                "month": sum(measure(totals[d], kind) for d in days),
            }
            for label, kind, measure in figures
        ]
        charts = [
            bar_chart(
                "Coins sold per day",
                [(d.isoformat(), amount(totals[d], TransferKind.PURCHASE)) for d in days],
            ),
            bar_chart(
                "Gifts sent per day",
                [(d.isoformat(), count(totals[d], TransferKind.GIFT_SENT)) for d in days],
            ),
        ]
        open_flags = await fraud.open_flag_count()
        midnight = datetime.combine(days[-1], time.min, tzinfo=UTC)
        money = {
            "today": await purchases.money_taken_since(midnight),
            "month": await purchases.money_taken_since(midnight - timedelta(days=DAYS - 1)),
        }
        return render(
            request,
            "dashboard.html",
            rows=rows,
            charts=charts,
            open_flags=open_flags,
            days=DAYS,
            money=money,
            payouts=await payouts.totals_by_status(),
        )

"""The payouts queue (FINANCE): pending payouts with the creator's standing; approve or reject."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from app import ledger
from app.admin.auth import current_staff
from app.admin.pages import redirect, render
from app.core.errors import DomainError
from app.fraud import service as fraud
from app.ledger.codes import Currency
from app.payouts import holds
from app.payouts import queries as payout_queries
from app.payouts import service as payouts
from app.payouts.codes import PayoutStatus
from app.payouts.provider import PayoutProviderError, default_provider
from app.payouts.statements import creator_statement, render_csv
from app.settings import Settings
from app.staff.service import Role
from app.users import service as users

PAGE = 50
ROLES = {"roles": [Role.FINANCE]}


class PayoutsController(Controller):
    path = "/admin/payouts"

    @get("/", opt=ROLES)
    async def queue(
        self,
        request: Request[Any, Any, Any],
        status: FromQuery[str] = PayoutStatus.PENDING.value,
        after: FromQuery[int | None] = None,
    ) -> Template:
        chosen = PayoutStatus(status) if status in PayoutStatus.__members__ else None
        pending_first = chosen is PayoutStatus.PENDING
        rows = await payout_queries.list_payouts(
            status=chosen, limit=PAGE + 1, after=after, oldest_first=pending_first
        )
        page = rows[:PAGE]
        creator_ids = sorted({p.creator_id for p in page})
        creators = await users.users_by_ids(creator_ids)
        balances = await ledger.user_balances(creator_ids)
        held = await payout_queries.held_diamonds(creator_ids)
        flagged = {cid for cid in creator_ids if await fraud.has_open_flag(cid)}
        held_for_review = await holds.held_creator_ids(creator_ids)
        return render(
            request,
            "payouts/queue.html",
            payouts=page,
            creators=creators,
            available={cid: balances[cid][Currency.DIAMOND] for cid in creator_ids},
            held=held,
            flagged=flagged,
            held_for_review=held_for_review,
            status=chosen.value if chosen else "ALL",
            statuses=[s.value for s in PayoutStatus],
            next_after=page[-1].id if len(rows) > PAGE else None,
        )

    @get("/statement", opt=ROLES)
    async def statement(
        self,
        request: Request[Any, Any, Any],
        settings: NamedDependency[Settings],
        handle: FromQuery[str] = "",
        month: FromQuery[str] = "",
    ) -> Response[str] | Redirect:
        """A creator's monthly statement as a CSV download."""
        creator = await users.find_by_handle(handle)
        if creator is None:
            return redirect("/admin/payouts", f"No creator {handle!r}.", kind="error")
        try:
            statement = await creator_statement(creator, month, settings.economy)
        except DomainError as error:
            return redirect("/admin/payouts", error.message, kind="error")
        filename = f"statement-{creator.handle}-{statement.month}.csv"
        return Response(
            render_csv(statement),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )

    @post("/{payout_id:int}/approve", opt=ROLES)
    async def approve(
        self,
        request: Request[Any, Any, Any],
        payout_id: FromPath[int],
        settings: NamedDependency[Settings],
    ) -> Redirect:
        try:
            paid = await payouts.approve_payout(
                payout_id,
                current_staff(request).actor,
                provider=default_provider(settings.sandbox_payments),
            )
        except (DomainError, PayoutProviderError) as error:
            return redirect("/admin/payouts", _message(error), kind="error")
        return redirect(
            "/admin/payouts", f"Payout #{paid.id} paid: reference {paid.payment_reference}."
        )

    @post("/{payout_id:int}/reject", opt=ROLES)
    async def reject(self, request: Request[Any, Any, Any], payout_id: FromPath[int]) -> Redirect:
        form = await request.form()
        try:
            await payouts.reject_payout(
                payout_id, current_staff(request).actor, str(form.get("reason", ""))
            )
        except DomainError as error:
            return redirect("/admin/payouts", error.message, kind="error")
        return redirect("/admin/payouts", f"Payout #{payout_id} rejected; diamonds released.")


def _message(error: Exception) -> str:
    return error.message if isinstance(error, DomainError) else str(error)

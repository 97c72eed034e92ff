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
from app.admin.refusals import back_to, refuses
from app.core.errors import DomainError, ErrorCode
from app.core.paging import cut_page
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
HOME = "/admin/payouts"
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
        page = cut_page(rows, limit=PAGE, cursor_of=lambda payout: str(payout.id))
        creator_ids = sorted({p.creator_id for p in page.items})
        creators = await users.users_by_ids(creator_ids)
        balances = await ledger.user_balances(creator_ids)
        held = await payout_queries.held_diamonds(creator_ids)
        flagged = await fraud.flagged_user_ids(creator_ids)
        held_for_review = await holds.held_creator_ids(creator_ids)
        return render(
            request,
            "payouts/queue.html",
            payouts=page.items,
            creators=creators,
            available={cid: balances[cid][Currency.DIAMOND] for cid in creator_ids},
            held=held,
            flagged=flagged,
            held_for_review=held_for_review,
            status=chosen.value if chosen else "ALL",
            statuses=[s.value for s in PayoutStatus],
            page=page,
        )

    @get("/statement", opt=ROLES)
    @refuses(back_to(HOME))
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
            raise DomainError(ErrorCode.NOT_FOUND, f"No creator {handle!r}.", "handle")
        statement = await creator_statement(creator, month, settings.economy)
        filename = f"statement-{creator.handle}-{statement.month}.csv"
        return Response(
            render_csv(statement),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )

    @post("/{payout_id:int}/approve", opt=ROLES)
    @refuses(back_to(HOME), also=(PayoutProviderError,))
    async def approve(
        self,
        request: Request[Any, Any, Any],
        payout_id: FromPath[int],
        settings: NamedDependency[Settings],
    ) -> Redirect:
        paid = await payouts.approve_payout(
            payout_id,
            current_staff(request).actor,
            provider=default_provider(settings),
        )
        if paid.payment_reference is None:  # Stripe: its payout.paid webhook settles it
            return redirect(HOME, f"Payout #{paid.id} sent; it is paid when Stripe confirms.")
        return redirect(HOME, f"Payout #{paid.id} paid: reference {paid.payment_reference}.")

    @post("/{payout_id:int}/reject", opt=ROLES)
    @refuses(back_to(HOME))
    async def reject(self, request: Request[Any, Any, Any], payout_id: FromPath[int]) -> Redirect:
        form = await request.form()
        await payouts.reject_payout(
            payout_id, current_staff(request).actor, str(form.get("reason", ""))
        )
        return redirect(HOME, f"Payout #{payout_id} rejected; diamonds released.")

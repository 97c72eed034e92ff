"""The fraud queue (MODERATOR): open flags, the evidence behind one, and what to do about it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from app import ledger
from app.admin.auth import current_staff
from app.admin.forms import require_ticked, whole_number
from app.admin.graphs import gift_graph
from app.admin.pages import redirect, render
from app.admin.refusals import Refusal, or_404, refuses
from app.audit import service as audit
from app.core.errors import DomainError, ErrorCode
from app.fraud import review
from app.fraud import service as fraud
from app.fraud.codes import FlagStatus, FraudRule
from app.gifts import messages as gift_messages
from app.gifts import queries as gift_events
from app.payouts import holds
from app.staff.service import Role
from app.users import service as users

PAGE = 25
ROLES = {"roles": [Role.MODERATOR]}
HOME = "/admin/fraud"


def _beside(action: str) -> Refusal:
    """A refused action shows on the flag's page, beside that action's form."""

    async def refuse(
        request: Request[Any, Any, Any], error: DomainError, arguments: Mapping[str, Any]
    ) -> Response[Any]:
        return await _flag_page(request, arguments["flag_id"], errors={action: error.message})

    return refuse


class FraudController(Controller):
    path = HOME

    @get("/", opt=ROLES)
    async def queue(
        self,
        request: Request[Any, Any, Any],
        status: FromQuery[str] = FlagStatus.OPEN.value,
        rule: FromQuery[str] = "",
        after: FromQuery[str | None] = None,
        before: FromQuery[str | None] = None,
    ) -> Template:
        chosen = FlagStatus(status) if status in FlagStatus.__members__ else None
        chosen_rule = FraudRule(rule) if rule in FraudRule.__members__ else None
        page = await fraud.page_of_flags(
            status=chosen, rule=chosen_rule, limit=PAGE, after=after, before=before
        )
        return render(
            request,
            "fraud/queue.html",
            flags=page.items,
            subjects=await users.users_by_ids([f.subject_user_id for f in page.items]),
            status=chosen.value if chosen else "ALL",
            rule=chosen_rule.value if chosen_rule else "",
            statuses=[s.value for s in FlagStatus],
            rules=[r.value for r in FraudRule],
            page=page,
        )

    @get("/{flag_id:int}", opt=ROLES)
    async def show_flag(self, request: Request[Any, Any, Any], flag_id: FromPath[int]) -> Template:
        return await _flag_page(request, flag_id)

    @post("/{flag_id:int}/dismiss", opt=ROLES)
    @refuses(_beside("dismiss"))
    async def dismiss(self, request: Request[Any, Any, Any], flag_id: FromPath[int]) -> Redirect:
        form = await request.form()
        await fraud.dismiss_flag(
            flag_id, actor=current_staff(request).actor, note=str(form.get("note", ""))
        )
        return redirect(HOME, f"Flag #{flag_id} dismissed.")

    @post("/{flag_id:int}/freeze", opt=ROLES)
    @refuses(_beside("freeze"))
    async def freeze(self, request: Request[Any, Any, Any], flag_id: FromPath[int]) -> Redirect:
        return await _freeze(request, flag_id, frozen=True)

    @post("/{flag_id:int}/unfreeze", opt=ROLES)
    @refuses(_beside("freeze"))
    async def unfreeze(self, request: Request[Any, Any, Any], flag_id: FromPath[int]) -> Redirect:
        return await _freeze(request, flag_id, frozen=False)

    @post("/{flag_id:int}/hold", opt=ROLES)
    @refuses(_beside("hold"))
    async def hold(self, request: Request[Any, Any, Any], flag_id: FromPath[int]) -> Redirect:
        return await _hold(request, flag_id, held=True)

    @post("/{flag_id:int}/release", opt=ROLES)
    @refuses(_beside("hold"))
    async def release(self, request: Request[Any, Any, Any], flag_id: FromPath[int]) -> Redirect:
        return await _hold(request, flag_id, held=False)

    @post("/{flag_id:int}/hide-message", opt=ROLES)
    @refuses(_beside("hide_message"))
    async def hide_message(
        self, request: Request[Any, Any, Any], flag_id: FromPath[int]
    ) -> Redirect:
        event_id = _reported_message_event(await _flag_or_404(flag_id))
        if event_id is None:
            raise DomainError(ErrorCode.NOT_FOUND, "This flag names no gift message.")
        form = await request.form()
        await gift_messages.hide_message_as_staff(
            event_id, actor=current_staff(request).actor, reason=str(form.get("reason", ""))
        )
        return redirect(f"{HOME}/{flag_id}", f"The message of gift #{event_id} is hidden.")

    @post("/{flag_id:int}/reverse", opt=ROLES)
    @refuses(_beside("reverse"))
    async def reverse(self, request: Request[Any, Any, Any], flag_id: FromPath[int]) -> Redirect:
        await _flag_or_404(flag_id)
        form = await request.form()
        require_ticked(form)
        done = await review.reverse_flagged_gift(
            flag_id,
            whole_number(form, "gift_event_id", label="a gift") or 0,
            actor=current_staff(request).actor,
            reason=str(form.get("reason", "")),
        )
        return redirect(
            f"{HOME}/{flag_id}",
            f"Gift #{done.gift_event_id} reversed: coins and diamonds returned.",
        )


async def _flag_or_404(flag_id: int) -> fraud.FlagRecord:
    return await or_404(fraud.get_flag(flag_id), "No such flag.")


def _reported_message_event(flag: fraud.FlagRecord) -> int | None:
    """The gift event whose message a report carries as evidence, if it does."""
    event_id = flag.evidence.get("gift_event_id")
    return event_id if "message" in flag.evidence and isinstance(event_id, int) else None


async def _flag_page(
    request: Request[Any, Any, Any], flag_id: int, *, errors: dict[str, str] | None = None
) -> Template:
    flag = await _flag_or_404(flag_id)
    subject = await users.get_user(flag.subject_user_id)
    parties = await gift_events.counterparties(subject.id)
    events = await gift_events.events_of_user(subject.id, sent=None, limit=30)
    people = await users.users_by_ids(
        [subject.id, *(p.user_id for p in parties)]
        + [e.sender_id for e in events]
        + [e.host_id for e in events]
    )
    graph = gift_graph(
        subject.id,
        subject.handle,
        [(p.user_id, people[p.user_id].handle, p.coins_sent, p.coins_received) for p in parties],
    )
    message_event = _reported_message_event(flag)
    return render(
        request,
        "fraud/flag.html",
        status_code=400 if errors else 200,
        flag=flag,
        gift_message=await gift_messages.message_of(message_event) if message_event else None,
        subject=subject,
        balances=(await ledger.user_balances([subject.id]))[subject.id],
        payouts_held=await holds.payouts_held(subject.id),
        entries=await ledger.list_entries(subject.id, limit=20),
        parties=parties,
        events=events,
        reversals=await review.reversals_of([e.id for e in events]),
        people=people,
        graph=graph,
        other_flags=[
            f
            for f in await fraud.list_flags(status=None, subject_user_id=subject.id, limit=20)
            if f.id != flag.id
        ],
        history=await audit.list_entries(
            limit=20, target_type="fraud_flag", target_id=str(flag.id)
        ),
        errors=errors or {},
    )


async def _freeze(request: Request[Any, Any, Any], flag_id: int, *, frozen: bool) -> Redirect:
    await _flag_or_404(flag_id)
    form = await request.form()
    require_ticked(form)
    await review.freeze_from_flag(
        flag_id,
        frozen=frozen,
        actor=current_staff(request).actor,
        reason=str(form.get("reason", "")),
    )
    return redirect(
        f"{HOME}/{flag_id}", "Account frozen." if frozen else "Account no longer frozen."
    )


async def _hold(request: Request[Any, Any, Any], flag_id: int, *, held: bool) -> Redirect:
    await _flag_or_404(flag_id)
    form = await request.form()
    await review.hold_from_flag(
        flag_id, held=held, actor=current_staff(request).actor, reason=str(form.get("reason", ""))
    )
    return redirect(
        f"{HOME}/{flag_id}", "Payouts held for review." if held else "Payouts released."
    )

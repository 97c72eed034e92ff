"""Users (MODERATOR): search, wallet and ledger, freeze and unfreeze with a reason."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from app import ledger
from app.admin.auth import current_staff
from app.admin.pages import redirect, render
from app.audit import service as audit
from app.core.errors import DomainError
from app.gifts import catalog
from app.gifts import queries as gifts
from app.purchases import buying as purchases
from app.staff.service import Role
from app.users import service as users

PAGE = 25
ACTIVITY = 20
ROLES = {"roles": [Role.MODERATOR]}


class UsersController(Controller):
    path = "/admin/users"

    @get("/", opt=ROLES)
    async def list_users(
        self,
        request: Request[Any, Any, Any],
        q: FromQuery[str] = "",
        after: FromQuery[int | None] = None,
    ) -> Template:
        found = await users.search_users(q, limit=PAGE + 1, after_id=after)
        page = found[:PAGE]
        balances = await ledger.user_balances([u.id for u in page])
        return render(
            request,
            "users/list.html",
            q=q,
            users=page,
            balances=balances,
            next_after=page[-1].id if len(found) > PAGE else None,
        )

    @get("/{user_id:int}", opt=ROLES)
    async def show_user(
        self,
        request: Request[Any, Any, Any],
        user_id: FromPath[int],
        before: FromQuery[int | None] = None,
    ) -> Template:
        user = await _user_or_404(user_id)
        entries = await ledger.list_entries(user.id, limit=PAGE + 1, before_transfer_id=before)
        history = await audit.list_entries(limit=20, target_type="user", target_id=str(user.id))
        sent = await gifts.events_of_user(user.id, sent=True, limit=ACTIVITY)
        received = await gifts.events_of_user(user.id, sent=False, limit=ACTIVITY)
        events = sent + received
        gift_names = {
            version_id: gift.name
            for version_id, gift in (
                await catalog.gifts_by_version_ids([e.gift_version_id for e in events])
            ).items()
        }
        people = await users.users_by_ids(
            [e.host_id for e in sent] + [e.sender_id for e in received]
        )
        return render(
            request,
            "users/detail.html",
            user=user,
            balances=(await ledger.user_balances([user.id]))[user.id],
            entries=entries[:PAGE],
            next_before=entries[PAGE - 1].transfer_id if len(entries) > PAGE else None,
            history=history,
            purchases=await purchases.list_purchases(user.id, limit=ACTIVITY),
            sent=sent,
            received=received,
            gift_names=gift_names,
            people=people,
        )

    @post("/{user_id:int}/freeze", opt=ROLES)
    async def freeze(self, request: Request[Any, Any, Any], user_id: FromPath[int]) -> Redirect:
        return await _set_frozen(request, user_id, frozen=True)

    @post("/{user_id:int}/unfreeze", opt=ROLES)
    async def unfreeze(self, request: Request[Any, Any, Any], user_id: FromPath[int]) -> Redirect:
        return await _set_frozen(request, user_id, frozen=False)


async def _user_or_404(user_id: int) -> users.UserRecord:
    try:
        return await users.get_user(user_id)
    except DomainError:
        raise NotFoundException("No such user.") from None


async def _set_frozen(request: Request[Any, Any, Any], user_id: int, *, frozen: bool) -> Redirect:
    user = await _user_or_404(user_id)
    form = await request.form()
    back = f"/admin/users/{user.id}"
    if form.get("confirm") != "yes":
        return redirect(back, "Tick the box to confirm.", kind="error")
    try:
        await users.set_frozen(
            user.id,
            frozen=frozen,
            reason=str(form.get("reason", "")),
            actor=current_staff(request).actor,
        )
    except DomainError as error:
        return redirect(back, error.message, kind="error")
    return redirect(back, f"{user.handle} is {'frozen' if frozen else 'no longer frozen'}.")

"""Users (MODERATOR): search, wallet and ledger, freeze and unfreeze with a reason."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from app import ledger
from app.admin.auth import current_staff
from app.admin.forms import require_ticked
from app.admin.pages import redirect, render
from app.admin.refusals import back_to, or_404, refuses
from app.audit import service as audit
from app.core.paging import cut_page
from app.gifts import catalog
from app.gifts import queries as gifts
from app.purchases import buying as purchases
from app.staff.service import Role
from app.users import service as users

PAGE = 25
ACTIVITY = 20
ROLES = {"roles": [Role.MODERATOR]}
HOME = "/admin/users"


class UsersController(Controller):
    path = HOME

    @get("/", opt=ROLES)
    async def list_users(
        self,
        request: Request[Any, Any, Any],
        q: FromQuery[str] = "",
        after: FromQuery[int | None] = None,
    ) -> Template:
        found = await users.search_users(q, limit=PAGE + 1, after_id=after)
        page = cut_page(found, limit=PAGE, cursor_of=lambda user: str(user.id))
        return render(
            request,
            "users/list.html",
            q=q,
            users=page.items,
            balances=await ledger.user_balances([u.id for u in page.items]),
            page=page,
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
            page=cut_page(entries, limit=PAGE, cursor_of=lambda entry: str(entry.transfer_id)),
            history=history,
            purchases=await purchases.list_purchases(user.id, limit=ACTIVITY),
            sent=sent,
            received=received,
            gift_names=gift_names,
            people=people,
        )

    @post("/{user_id:int}/freeze", opt=ROLES)
    @refuses(back_to(HOME + "/{user_id}"))
    async def freeze(self, request: Request[Any, Any, Any], user_id: FromPath[int]) -> Redirect:
        return await _set_frozen(request, user_id, frozen=True)

    @post("/{user_id:int}/unfreeze", opt=ROLES)
    @refuses(back_to(HOME + "/{user_id}"))
    async def unfreeze(self, request: Request[Any, Any, Any], user_id: FromPath[int]) -> Redirect:
        return await _set_frozen(request, user_id, frozen=False)


async def _user_or_404(user_id: int) -> users.UserRecord:
    return await or_404(users.get_user(user_id), "No such user.")


async def _set_frozen(request: Request[Any, Any, Any], user_id: int, *, frozen: bool) -> Redirect:
    user = await _user_or_404(user_id)
    form = await request.form()
    back = f"/admin/users/{user.id}"
    require_ticked(form)
    await users.set_frozen(
        user.id,
        frozen=frozen,
        reason=str(form.get("reason", "")),
        actor=current_staff(request).actor,
    )
    return redirect(back, f"{user.handle} is {'frozen' if frozen else 'no longer frozen'}.")

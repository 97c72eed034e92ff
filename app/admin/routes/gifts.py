"""The gift catalog (CATALOG): list, create, edit as a new version, retire and restore."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from app.admin.auth import current_staff
from app.admin.forms import text, ticked, whole_number
from app.admin.pages import redirect, render
from app.audit import service as audit
from app.core.errors import DomainError
from app.gifts import catalog
from app.gifts.catalog import GiftRecord
from app.settings import Settings
from app.staff.service import Role

ROLES = {"roles": [Role.CATALOG]}
HOME = "/admin/gifts"
PAGE = 50
STATUSES = {"on_sale": False, "retired": True, "all": None}


class GiftsController(Controller):
    path = HOME

    @get("/", opt=ROLES)
    async def list_gifts(
        self,
        request: Request[Any, Any, Any],
        q: FromQuery[str] = "",
        status: FromQuery[str] = "all",
        page: FromQuery[int] = 1,
    ) -> Template:
        return await _list_page(request, q=q, status=status, page=page)

    @post("/", opt=ROLES)
    async def create(
        self, request: Request[Any, Any, Any], settings: NamedDependency[Settings]
    ) -> Template | Redirect:
        form = await request.form()
        try:
            gift = await catalog.create_gift(
                slug=text(form, "slug").strip().lower(),
                name=text(form, "name"),
                coin_cost=whole_number(form, "coinCost", label="a coin cost") or 0,
                diamond_value=whole_number(
                    form, "diamondValue", label="a diamond value", required=False
                ),
                image_url=text(form, "imageUrl"),
                creator_share=settings.economy.creator_share,
                actor=current_staff(request).actor,
            )
        except DomainError as error:
            return await _list_page(
                request,
                status_code=400,
                errors={error.field or "slug": error.message},
                form=dict(form),
            )
        return redirect(
            f"{HOME}/{gift.id}",
            f"{gift.name} is in the catalog at {gift.coin_cost:,} coins "
            f"({gift.diamond_value:,} diamonds to the creator).",
        )

    @get("/{gift_id:int}", opt=ROLES)
    async def show(
        self,
        request: Request[Any, Any, Any],
        gift_id: FromPath[int],
        settings: NamedDependency[Settings],
    ) -> Template:
        gift = await _gift_or_404(gift_id)
        return await _detail_page(request, gift, settings.economy.creator_share)

    @post("/{gift_id:int}", opt=ROLES)
    async def edit(
        self,
        request: Request[Any, Any, Any],
        gift_id: FromPath[int],
        settings: NamedDependency[Settings],
    ) -> Template | Redirect:
        gift = await _gift_or_404(gift_id)
        form = await request.form()
        try:
            edited = await catalog.edit_gift(
                gift.id,
                name=text(form, "name"),
                coin_cost=whole_number(form, "coinCost", label="a coin cost") or 0,
                diamond_value=whole_number(
                    form, "diamondValue", label="a diamond value", required=False
                ),
                image_url=text(form, "imageUrl"),
                creator_share=settings.economy.creator_share,
                actor=current_staff(request).actor,
                expected_version_id=whole_number(form, "version", label="a version"),
            )
        except DomainError as error:
            current = await catalog.get_gift(gift.id)
            shown = dict(form)
            if error.field == "version":  # show what changed; saving again overwrites it
                shown["version"] = str(current.version_id)
            return await _detail_page(
                request,
                current,
                settings.economy.creator_share,
                status_code=400,
                errors={error.field or "name": error.message},
                form=shown,
            )
        if edited.version_id == gift.version_id:
            return redirect(f"{HOME}/{gift.id}", "Nothing changed.")
        return redirect(
            f"{HOME}/{gift.id}",
            f"{edited.name} now costs {edited.coin_cost:,} coins "
            f"({edited.diamond_value:,} diamonds): version #{edited.version_id}.",
        )

    @post("/{gift_id:int}/retire", opt=ROLES)
    async def retire(self, request: Request[Any, Any, Any], gift_id: FromPath[int]) -> Redirect:
        gift = await _gift_or_404(gift_id)
        form = await request.form()
        back = f"{HOME}/{gift.id}"
        if not ticked(form, "confirm"):
            return redirect(back, "Tick the box to confirm.", kind="error")
        await catalog.set_retired(
            gift.id, True, actor=current_staff(request).actor, reason=text(form, "reason")
        )
        return redirect(back, f"{gift.name} is retired: it can no longer be sent.")

    @post("/{gift_id:int}/restore", opt=ROLES)
    async def restore(self, request: Request[Any, Any, Any], gift_id: FromPath[int]) -> Redirect:
        gift = await _gift_or_404(gift_id)
        await catalog.set_retired(gift.id, False, actor=current_staff(request).actor)
        return redirect(f"{HOME}/{gift.id}", f"{gift.name} is back in the catalog.")


async def _gift_or_404(gift_id: int) -> GiftRecord:
    try:
        return await catalog.get_gift(gift_id)
    except DomainError:
        raise NotFoundException("No such gift.") from None


async def _list_page(
    request: Request[Any, Any, Any],
    *,
    q: str = "",
    status: str = "all",
    page: int = 1,
    status_code: int = 200,
    errors: dict[str, str] | None = None,
    form: dict[str, Any] | None = None,
) -> Template:
    status = status if status in STATUSES else "all"
    page = max(page, 1)
    found = await catalog.search_gifts(
        query=q, retired=STATUSES[status], limit=PAGE + 1, offset=(page - 1) * PAGE
    )
    return render(
        request,
        "gifts/list.html",
        status_code=status_code,
        gifts=found[:PAGE],
        q=q,
        status=status,
        page=page,
        has_next=len(found) > PAGE,
        errors=errors or {},
        form=form or {},
    )


async def _detail_page(
    request: Request[Any, Any, Any],
    gift: GiftRecord,
    creator_share: Fraction,
    *,
    status_code: int = 200,
    errors: dict[str, str] | None = None,
    form: dict[str, Any] | None = None,
) -> Template:
    follows_share = gift.diamond_value == catalog.diamond_value_for(gift.coin_cost, creator_share)
    return render(
        request,
        "gifts/detail.html",
        status_code=status_code,
        gift=gift,
        versions=await catalog.list_versions(gift.id),
        creator_share_percent=float(creator_share * 100),
        history=await audit.list_entries(limit=20, target_type="gift", target_id=str(gift.id)),
        errors=errors or {},
        form=form
        or {
            "name": gift.name,
            "coinCost": str(gift.coin_cost),
            # blank: the diamond value follows the creator share when the price changes
            "diamondValue": "" if follows_share else str(gift.diamond_value),
            "imageUrl": gift.image_url or "",
            "version": str(gift.version_id),
        },
    )

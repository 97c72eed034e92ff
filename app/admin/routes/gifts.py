"""The gift catalog (CATALOG): list, create, edit as a new version (price, render data,
availability), retire and restore."""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from app.admin.auth import current_staff
from app.admin.forms import require_ticked, text, utc_datetime, whole_number
from app.admin.pages import redirect, render
from app.admin.refusals import back_to, form_errors, or_404, refuses
from app.audit import service as audit
from app.core.errors import DomainError, ErrorCode
from app.gifts import catalog
from app.gifts.catalog import GiftRecord
from app.gifts.details import AnimationKind, AvailabilityKind, GiftDetails
from app.settings import Settings
from app.staff.service import Role

ROLES = {"roles": [Role.CATALOG]}
HOME = "/admin/gifts"
PAGE = 50
STATUSES = {"on_sale": False, "retired": True, "all": None}


async def _gift_or_404(gift_id: int) -> GiftRecord:
    return await or_404(catalog.get_gift(gift_id), "No such gift.")


async def _create_form_again(request: Request[Any, Any, Any], errors: dict[str, str]) -> Template:
    form = await request.form()
    return await _list_page(request, status_code=400, errors=errors, form=dict(form))


async def _edit_form_again(
    request: Request[Any, Any, Any], error: DomainError, arguments: Mapping[str, Any]
) -> Response[Any]:
    """The edit form again, over the gift as it is now; what was typed is kept."""
    current = await _gift_or_404(arguments["gift_id"])
    shown = dict(await request.form())
    if error.field == "version":  # show what changed; saving again overwrites it
        shown["version"] = str(current.version_id)
    settings: Settings = arguments["settings"]
    return await _detail_page(
        request,
        current,
        settings.economy.creator_share,
        status_code=400,
        errors={error.field or "name": error.message},
        form=shown,
    )


def _choice(form: Any, name: str, choices: type[AnimationKind] | type[AvailabilityKind]) -> Any:
    value = text(form, name).strip() or next(iter(choices)).value  # blank: the first
    if value not in choices.__members__:
        raise DomainError(ErrorCode.INVALID_INPUT, "Choose one of the options.", name)
    return choices(value)


def _typed_details(form: Any) -> GiftDetails:
    """Render data and availability as the forms send them (validated by the catalog)."""
    tier = whole_number(form, "tier", label="a tier", required=False)
    sort_order = whole_number(form, "sortOrder", label="a sort order", required=False)
    return GiftDetails(
        thumbnail_url=text(form, "thumbnailUrl"),
        animation_url=text(form, "animationUrl"),
        animation_kind=_choice(form, "animationKind", AnimationKind),
        tier=1 if tier is None else tier,
        category=text(form, "category"),
        sort_order=sort_order or 0,
        availability_kind=_choice(form, "availability", AvailabilityKind),
        available_from=utc_datetime(form, "availableFrom", label="the start"),
        available_until=utc_datetime(form, "availableUntil", label="the end"),
        regions=tuple(code for code in text(form, "regions").replace(",", " ").split() if code),
    )


def details_form(details: GiftDetails) -> dict[str, str]:
    """A version's details as the form shows them (times in UTC, to the minute)."""

    def local(value: Any) -> str:
        return value.strftime("%Y-%m-%dT%H:%M") if value is not None else ""

    return {
        "thumbnailUrl": details.thumbnail_url or "",
        "animationUrl": details.animation_url or "",
        "animationKind": details.animation_kind.value,
        "tier": str(details.tier),
        "category": details.category or "",
        "sortOrder": str(details.sort_order),
        "availability": details.availability_kind.value,
        "availableFrom": local(details.available_from),
        "availableUntil": local(details.available_until),
        "regions": ", ".join(details.regions),
    }


def _typed_gift(request: Request[Any, Any, Any], form: Any, settings: Settings) -> dict[str, Any]:
    """What the create and edit forms share, read as the catalog takes it."""
    return {
        "name": text(form, "name"),
        "coin_cost": whole_number(form, "coinCost", label="a coin cost") or 0,
        "diamond_value": whole_number(
            form, "diamondValue", label="a diamond value", required=False
        ),
        "image_url": text(form, "imageUrl"),
        "details": _typed_details(form),
        "creator_share": settings.economy.creator_share,
        "actor": current_staff(request).actor,
    }


class GiftsController(Controller):
    path = HOME

    @get("/", opt=ROLES)
    async def list_gifts(
        self,
        request: Request[Any, Any, Any],
        q: FromQuery[str] = "",
        status: FromQuery[str] = "all",
        after: FromQuery[str | None] = None,
        before: FromQuery[str | None] = None,
    ) -> Template:
        return await _list_page(request, q=q, status=status, after=after, before=before)

    @post("/", opt=ROLES)
    @refuses(form_errors(_create_form_again, default_field="slug"))
    async def create(
        self, request: Request[Any, Any, Any], settings: NamedDependency[Settings]
    ) -> Redirect:
        form = await request.form()
        gift = await catalog.create_gift(
            slug=text(form, "slug").strip().lower(),
            **_typed_gift(request, form, settings),
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
    @refuses(_edit_form_again)
    async def edit(
        self,
        request: Request[Any, Any, Any],
        gift_id: FromPath[int],
        settings: NamedDependency[Settings],
    ) -> Redirect:
        gift = await _gift_or_404(gift_id)
        form = await request.form()
        edited = await catalog.edit_gift(
            gift.id,
            **_typed_gift(request, form, settings),
            expected_version_id=whole_number(form, "version", label="a version"),
        )
        if edited.version_id == gift.version_id:
            return redirect(f"{HOME}/{gift.id}", "Nothing changed.")
        if (edited.coin_cost, edited.diamond_value) == (gift.coin_cost, gift.diamond_value):
            return redirect(
                f"{HOME}/{gift.id}",
                f"{edited.name} saved as version #{edited.version_id}; its price is unchanged "
                f"({edited.coin_cost:,} coins).",
            )
        return redirect(
            f"{HOME}/{gift.id}",
            f"{edited.name} now costs {edited.coin_cost:,} coins "
            f"({edited.diamond_value:,} diamonds): version #{edited.version_id}.",
        )

    @post("/{gift_id:int}/retire", opt=ROLES)
    @refuses(back_to(HOME + "/{gift_id}"))
    async def retire(self, request: Request[Any, Any, Any], gift_id: FromPath[int]) -> Redirect:
        gift = await _gift_or_404(gift_id)
        form = await request.form()
        back = f"{HOME}/{gift.id}"
        require_ticked(form)
        await catalog.set_retired(
            gift.id, True, actor=current_staff(request).actor, reason=text(form, "reason")
        )
        return redirect(back, f"{gift.name} is retired: it can no longer be sent.")

    @post("/{gift_id:int}/restore", opt=ROLES)
    async def restore(self, request: Request[Any, Any, Any], gift_id: FromPath[int]) -> Redirect:
        gift = await _gift_or_404(gift_id)
        await catalog.set_retired(gift.id, False, actor=current_staff(request).actor)
        return redirect(f"{HOME}/{gift.id}", f"{gift.name} is back in the catalog.")


async def _list_page(
    request: Request[Any, Any, Any],
    *,
    q: str = "",
    status: str = "all",
    after: str | None = None,
    before: str | None = None,
    status_code: int = 200,
    errors: dict[str, str] | None = None,
    form: dict[str, Any] | None = None,
) -> Template:
    status = status if status in STATUSES else "all"
    page = await catalog.search_gifts(
        query=q, retired=STATUSES[status], limit=PAGE, after=after, before=before
    )
    return render(
        request,
        "gifts/list.html",
        status_code=status_code,
        gifts=page.items,
        q=q,
        status=status,
        page=page,
        errors=errors or {},
        form=form or details_form(GiftDetails()),
        animation_kinds=list(AnimationKind),
        availability_kinds=list(AvailabilityKind),
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
            **details_form(gift.details),
        },
        animation_kinds=list(AnimationKind),
        availability_kinds=list(AvailabilityKind),
    )

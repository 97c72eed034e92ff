"""Coin packages (CATALOG): list per platform, create, price per country, put on or off sale."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from app.admin.auth import current_staff
from app.admin.pages import redirect, render
from app.admin.refusals import back_to, form_errors, refuses
from app.core.errors import DomainError, ErrorCode
from app.core.money import parse_money
from app.purchases import packages as catalog
from app.purchases.codes import Platform
from app.staff.service import Role

ROLES = {"roles": [Role.CATALOG]}
HOME = "/admin/packages"
PAGE = 50


def _int(form: Any, name: str, default: int | None = None) -> int:
    raw = str(form.get(name, "")).strip()
    if not raw and default is not None:
        return default
    try:
        return int(raw.replace(",", ""))
    except ValueError:
        raise DomainError(ErrorCode.INVALID_INPUT, f"{name} is a whole number.", name) from None


def _platform(form: Any) -> Platform:
    value = str(form.get("platform", "WEB"))
    if value not in Platform.__members__:
        raise DomainError(ErrorCode.INVALID_INPUT, "Choose a platform.", "platform")
    return Platform(value)


async def _list_page(
    request: Request[Any, Any, Any],
    platform: Platform | None = None,
    *,
    after: str | None = None,
    before: str | None = None,
    status_code: int = 200,
    errors: dict[str, str] | None = None,
    form: dict[str, Any] | None = None,
) -> Template:
    page = await catalog.page_of_packages(platform, limit=PAGE, after=after, before=before)
    return render(
        request,
        "packages/list.html",
        status_code=status_code,
        listings=page.items,
        page=page,
        platform=platform.value if platform else "",
        platforms=[p.value for p in Platform],
        errors=errors or {},
        form=form or {},
    )


async def _create_form_again(request: Request[Any, Any, Any], errors: dict[str, str]) -> Template:
    form = await request.form()
    return await _list_page(request, status_code=400, errors=errors, form=dict(form))


class PackagesController(Controller):
    path = HOME

    @get("/", opt=ROLES)
    async def list_packages(
        self,
        request: Request[Any, Any, Any],
        platform: FromQuery[str] = "",
        after: FromQuery[str | None] = None,
        before: FromQuery[str | None] = None,
    ) -> Template:
        chosen = Platform(platform) if platform in Platform.__members__ else None
        return await _list_page(request, chosen, after=after, before=before)

    @post("/", opt=ROLES)
    @refuses(form_errors(_create_form_again, default_field="coins"))
    async def create(self, request: Request[Any, Any, Any]) -> Redirect:
        form = await request.form()
        package = await catalog.create_package(
            platform=_platform(form),
            coins=_int(form, "coins"),
            bonus_coins=_int(form, "bonus_coins", 0),
            price=parse_money(str(form.get("price", "")), str(form.get("currency", "USD"))),
            product_id=str(form.get("product_id", "")).strip(),
            actor=current_staff(request).actor,
        )
        return redirect(HOME, f"Package #{package.id} of {package.total_coins:,} coins is on sale.")

    @post("/{package_id:int}/price", opt=ROLES)
    @refuses(back_to(HOME))
    async def set_price(
        self, request: Request[Any, Any, Any], package_id: FromPath[int]
    ) -> Redirect:
        form = await request.form()
        country = str(form.get("country", "")).strip()
        actor = current_staff(request).actor
        if country and form.get("remove") == "yes":
            await catalog.set_country_price(package_id, country, None, actor=actor)
        else:
            price = parse_money(str(form.get("price", "")), str(form.get("currency", "")))
            if country:
                await catalog.set_country_price(package_id, country, price, actor=actor)
            else:
                await catalog.set_default_price(package_id, price, actor=actor)
        where = f" in {country.upper()}" if country else ""
        return redirect(HOME, f"Package #{package_id}: price{where} updated.")

    @post("/{package_id:int}/activate", opt=ROLES)
    @refuses(back_to(HOME))
    async def activate(
        self, request: Request[Any, Any, Any], package_id: FromPath[int]
    ) -> Redirect:
        return await _set_active(request, package_id, active=True)

    @post("/{package_id:int}/deactivate", opt=ROLES)
    @refuses(back_to(HOME))
    async def deactivate(
        self, request: Request[Any, Any, Any], package_id: FromPath[int]
    ) -> Redirect:
        return await _set_active(request, package_id, active=False)


async def _set_active(
    request: Request[Any, Any, Any], package_id: int, *, active: bool
) -> Redirect:
    await catalog.set_active(package_id, active=active, actor=current_staff(request).actor)
    return redirect(HOME, f"Package #{package_id} is {'on' if active else 'off'} sale.")

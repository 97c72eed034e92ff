"""Coin packages (CATALOG): list per platform, create, price per country, put on or off sale."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from app.admin.auth import current_staff
from app.admin.pages import redirect, render
from app.core.errors import DomainError, ErrorCode
from app.core.money import parse_money
from app.purchases import packages as catalog
from app.purchases import packages as purchases
from app.purchases.codes import Platform
from app.staff.service import Role

ROLES = {"roles": [Role.CATALOG]}
HOME = "/admin/packages"


def _int(form: Any, name: str, default: int | None = None) -> int:
    raw = str(form.get(name, "")).strip()
    if not raw and default is not None:
        return default
    try:
        return int(raw.replace(",", ""))
    except ValueError:
        raise DomainError(ErrorCode.INVALID_INPUT, f"{name} is a whole number.", name) from None


class PackagesController(Controller):
    path = HOME

    @get("/", opt=ROLES)
    async def list_packages(
        self, request: Request[Any, Any, Any], platform: FromQuery[str] = ""
    ) -> Template:
        chosen = Platform(platform) if platform in Platform.__members__ else None
        return render(
            request,
            "packages/list.html",
            listings=await catalog.list_packages(chosen),
            platform=chosen.value if chosen else "",
            platforms=[p.value for p in Platform],
            errors={},
            form={},
        )

    @post("/", opt=ROLES)
    async def create(self, request: Request[Any, Any, Any]) -> Template | Redirect:
        form = await request.form()
        try:
            package = await purchases.create_package(
                platform=Platform(str(form.get("platform", "WEB"))),
                coins=_int(form, "coins"),
                bonus_coins=_int(form, "bonus_coins", 0),
                price=parse_money(str(form.get("price", "")), str(form.get("currency", "USD"))),
                product_id=str(form.get("product_id", "")).strip(),
                actor=current_staff(request).actor,
            )
        except (DomainError, ValueError) as error:
            if isinstance(error, DomainError):
                field, message = error.field or "coins", error.message
            else:
                field, message = "platform", "Choose a platform."
            return render(
                request,
                "packages/list.html",
                status_code=400,
                listings=await catalog.list_packages(),
                platform="",
                platforms=[p.value for p in Platform],
                errors={field: message},
                form=dict(form),
            )
        return redirect(HOME, f"Package #{package.id} of {package.total_coins:,} coins is on sale.")

    @post("/{package_id:int}/price", opt=ROLES)
    async def set_price(
        self, request: Request[Any, Any, Any], package_id: FromPath[int]
    ) -> Redirect:
        form = await request.form()
        country = str(form.get("country", "")).strip()
        actor = current_staff(request).actor
        try:
            if country and form.get("remove") == "yes":
                await catalog.set_country_price(package_id, country, None, actor=actor)
            else:
                price = parse_money(str(form.get("price", "")), str(form.get("currency", "")))
                if country:
                    await catalog.set_country_price(package_id, country, price, actor=actor)
                else:
                    await catalog.set_default_price(package_id, price, actor=actor)
        except DomainError as error:
            return redirect(HOME, error.message, kind="error")
        where = f" in {country.upper()}" if country else ""
        return redirect(HOME, f"Package #{package_id}: price{where} updated.")

    @post("/{package_id:int}/activate", opt=ROLES)
    async def activate(
        self, request: Request[Any, Any, Any], package_id: FromPath[int]
    ) -> Redirect:
        return await _set_active(request, package_id, active=True)

    @post("/{package_id:int}/deactivate", opt=ROLES)
    async def deactivate(
        self, request: Request[Any, Any, Any], package_id: FromPath[int]
    ) -> Redirect:
        return await _set_active(request, package_id, active=False)


async def _set_active(
    request: Request[Any, Any, Any], package_id: int, *, active: bool
) -> Redirect:
    try:
        await catalog.set_active(package_id, active=active, actor=current_staff(request).actor)
    except DomainError as error:
        return redirect(HOME, error.message, kind="error")
    return redirect(HOME, f"Package #{package_id} is {'on' if active else 'off'} sale.")

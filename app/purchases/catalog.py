"""Catalog staff manage coin packages: prices (per country too) and whether they are on sale.

Each change writes its audit entry in the same transaction. Purchases keep the price they
were made at, so editing a package never rewrites history.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.audit import service as audit
from app.audit.service import Actor
from app.core.errors import DomainError, ErrorCode
from app.core.money import Money
from app.core.transactions import in_transaction
from app.purchases.codes import Platform
from app.purchases.service import PackageRecord, _package, normalize_country
from app.purchases.tables import CoinPackage, CoinPackagePrice


@dataclass(frozen=True, slots=True)
class PackageListing:
    package: PackageRecord
    country_prices: dict[str, Money]


async def list_packages(platform: Platform | None = None) -> list[PackageListing]:
    """Every package, on sale or not, cheapest first per platform, with country prices."""
    query = CoinPackage.select()
    if platform is not None:
        query = query.where(CoinPackage.platform == platform.value)
    rows = await query.order_by(CoinPackage.platform).order_by(CoinPackage.price_minor)
    prices = await CoinPackagePrice.select().where(
        CoinPackagePrice.package_id.is_in([row["id"] for row in rows] or [0])
    )
    by_package: dict[int, dict[str, Money]] = {}
    for price in prices:
        by_package.setdefault(price["package_id"], {})[price["country"]] = Money(
            price["price_minor"], price["currency"]
        )
    return [PackageListing(_package(row), by_package.get(row["id"], {})) for row in rows]


async def _current(package_id: int) -> dict:
    row = await CoinPackage.select().where(CoinPackage.id == package_id).first()
    if row is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such package.", "packageId")
    return row


async def set_active(package_id: int, *, active: bool, actor: Actor) -> None:
    async def work() -> None:
        before = await _current(package_id)
        if bool(before["active"]) == active:
            return
        await CoinPackage.update({CoinPackage.active: active}).where(CoinPackage.id == package_id)
        await audit.record(
            actor,
            "package.activate" if active else "package.deactivate",
            target_type="coin_package",
            target_id=package_id,
            before={"active": bool(before["active"])},
            after={"active": active},
        )

    await in_transaction(work)


async def set_default_price(package_id: int, price: Money, *, actor: Actor) -> None:
    async def work() -> None:
        before = await _current(package_id)
        await CoinPackage.update(
            {CoinPackage.price_minor: price.amount_minor, CoinPackage.currency: price.currency}
        ).where(CoinPackage.id == package_id)
        await audit.record(
            actor,
            "package.price",
            target_type="coin_package",
            target_id=package_id,
            before={"price_minor": before["price_minor"], "currency": before["currency"]},
            after={"price_minor": price.amount_minor, "currency": price.currency},
        )

    await in_transaction(work)


async def set_country_price(
    package_id: int, country: str, price: Money | None, *, actor: Actor
) -> None:
    """Set a country's own price, or remove it (``None``) so the default applies there."""
    code = normalize_country(country)
    if code is None:
        raise DomainError(ErrorCode.INVALID_INPUT, "A country is a 2-letter ISO code.", "country")

    async def work() -> None:
        await _current(package_id)
        existing = (
            await CoinPackagePrice.select()
            .where((CoinPackagePrice.package_id == package_id) & (CoinPackagePrice.country == code))
            .first()
        )
        await CoinPackagePrice.delete().where(
            (CoinPackagePrice.package_id == package_id) & (CoinPackagePrice.country == code)
        )
        if price is not None:
            await CoinPackagePrice.insert(
                CoinPackagePrice(
                    package_id=package_id,
                    country=code,
                    price_minor=price.amount_minor,
                    currency=price.currency,
                )
            )
        await audit.record(
            actor,
            "package.country_price",
            target_type="coin_package",
            target_id=package_id,
            before=None
            if existing is None
            else {
                "country": code,
                "price_minor": existing["price_minor"],
                "currency": existing["currency"],
            },
            after=None
            if price is None
            else {"country": code, "price_minor": price.amount_minor, "currency": price.currency},
        )

    await in_transaction(work)

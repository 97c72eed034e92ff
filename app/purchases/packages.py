"""Coin packages: what is on sale where and at what price, and how staff change that.

Every package shows its price per coin. Each staff change writes its audit entry in the same
transaction; purchases keep the price they were made at, so editing a package never
rewrites history.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

from app.audit import service as audit
from app.audit.service import Actor
from app.core.clock import utcnow
from app.core.countries import normalize_country
from app.core.errors import DomainError, ErrorCode
from app.core.money import Money, minor_unit_exponent
from app.core.paging import BROKEN_CURSOR, Page, cut_page, decode_cursor, encode_cursor
from app.core.transactions import in_transaction
from app.purchases.codes import PROVIDER_PLATFORM, Platform, Provider
from app.purchases.tables import CoinPackage, CoinPackagePrice

# Digits a price per coin shows beyond the currency's own (0.0129 USD per coin).
PRICE_PER_COIN_EXTRA_DIGITS = 2


@dataclass(frozen=True, slots=True)
class PackageRecord:
    id: int
    platform: Platform
    product_id: str
    coins: int
    bonus_coins: int
    price: Money
    active: bool

    @property
    def total_coins(self) -> int:
        return self.coins + self.bonus_coins

    @property
    def price_per_coin(self) -> Decimal:
        return price_per_coin(self.price, self.total_coins)


def price_per_coin(price: Money, coins: int) -> Decimal:
    """The exact ratio, rounded half up to two digits below the currency's minor unit."""
    places = minor_unit_exponent(price.currency) + PRICE_PER_COIN_EXTRA_DIGITS
    ratio = Fraction(price.amount_minor, coins * 10 ** minor_unit_exponent(price.currency))
    scaled = ratio * 10**places
    rounded = (scaled.numerator * 2 + scaled.denominator) // (2 * scaled.denominator)
    return Decimal(rounded).scaleb(-places)


def package_record(row: dict[str, Any], price: Money | None = None) -> PackageRecord:
    return PackageRecord(
        id=row["id"],
        platform=Platform(row["platform"]),
        product_id=row["product_id"],
        coins=row["coins"],
        bonus_coins=row["bonus_coins"],
        price=price or Money(row["price_minor"], row["currency"]),
        active=bool(row["active"]),
    )


# Packages ------------------------------------------------------------------------------


async def packages_on_sale(platform: Platform, country: str | None = None) -> list[PackageRecord]:
    """Active packages of ``platform`` at ``country``'s price (else the default), cheapest first.

    The order is by default price, so a country whose prices are partly in another
    currency still lists the packages in one consistent order.
    """
    country = normalize_country(country)
    rows = await CoinPackage.select().where(
        (CoinPackage.platform == platform.value) & (CoinPackage.active == True)  # noqa: E712
    )
    overrides: dict[int, Money] = {}
    if country and rows:
        for price in await CoinPackagePrice.select().where(
            CoinPackagePrice.package_id.is_in([row["id"] for row in rows])
            & (CoinPackagePrice.country == country)
        ):
            overrides[price["package_id"]] = Money(price["price_minor"], price["currency"])
    rows = sorted(rows, key=lambda r: (r["price_minor"], r["coins"] + r["bonus_coins"], r["id"]))
    return [package_record(row, overrides.get(row["id"])) for row in rows]


async def packages_by_ids(package_ids: Sequence[int]) -> dict[int, PackageRecord]:
    if not package_ids:
        return {}
    rows = await CoinPackage.select().where(CoinPackage.id.is_in(list(set(package_ids))))
    return {row["id"]: package_record(row) for row in rows}


async def create_package(
    *,
    platform: Platform,
    coins: int,
    price: Money,
    bonus_coins: int = 0,
    product_id: str = "",
    country_prices: dict[str, Money] | None = None,
    actor: Actor | None = None,
) -> PackageRecord:
    """A new package on sale; a staff ``actor`` gets an audit entry in the same transaction."""
    if coins <= 0 or bonus_coins < 0 or price.amount_minor <= 0:
        raise DomainError(ErrorCode.INVALID_INPUT, "Coins and price must be positive.")

    async def work() -> int:
        rows = await CoinPackage.insert(
            CoinPackage(
                platform=platform.value,
                product_id=product_id,
                coins=coins,
                bonus_coins=bonus_coins,
                price_minor=price.amount_minor,
                currency=price.currency,
                active=True,
                created_at=utcnow(),
            )
        ).returning(CoinPackage.id)
        package_id = rows[0]["id"]
        for country, money in (country_prices or {}).items():
            await CoinPackagePrice.insert(
                CoinPackagePrice(
                    package_id=package_id,
                    country=normalize_country(country),
                    price_minor=money.amount_minor,
                    currency=money.currency,
                )
            )
        if actor is not None:
            await audit.record(
                actor,
                "package.create",
                target_type="coin_package",
                target_id=package_id,
                after={
                    "platform": platform.value,
                    "coins": coins,
                    "bonus_coins": bonus_coins,
                    "price_minor": price.amount_minor,
                    "currency": price.currency,
                },
            )
        return package_id

    package_id = await in_transaction(work)
    return (await packages_by_ids([package_id]))[package_id]


async def all_prices(package_id: int) -> list[Money]:
    rows = await CoinPackagePrice.select().where(CoinPackagePrice.package_id == package_id)
    return [Money(row["price_minor"], row["currency"]) for row in rows]


async def country_price(package: PackageRecord, country: str | None) -> Money:
    """The package's price in ``country`` (a store's billing region): its own, else the
    default; an unknown or malformed country is the default."""
    code = (country or "").strip().upper()
    if len(code) != 2 or not code.isalpha():
        return package.price
    row = (
        await CoinPackagePrice.select()
        .where((CoinPackagePrice.package_id == package.id) & (CoinPackagePrice.country == code))
        .first()
    )
    return Money(row["price_minor"], row["currency"]) if row else package.price


async def package_for(package_id: int, provider: Provider) -> PackageRecord:
    package = (await packages_by_ids([package_id])).get(package_id)
    if package is None or not package.active:
        raise DomainError(
            ErrorCode.PACKAGE_UNAVAILABLE, "That package is not on sale.", "packageId"
        )
    platform = PROVIDER_PLATFORM[provider]
    if platform is not None and package.platform is not platform:
        raise DomainError(
            ErrorCode.PACKAGE_UNAVAILABLE,
            f"That package is sold on {package.platform.value}, not through {provider.value}.",
            "packageId",
        )
    return package


# What staff change ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PackageListing:
    package: PackageRecord
    country_prices: dict[str, Money]


async def list_packages(platform: Platform | None = None) -> list[PackageListing]:
    """Every package, on sale or not, per platform and cheapest first, with country prices."""
    query = CoinPackage.select()
    if platform is not None:
        query = query.where(CoinPackage.platform == platform.value)
    return await _listings(
        await query.order_by(CoinPackage.platform, CoinPackage.price_minor, CoinPackage.id)
    )


# Platforms in the order the database sorts their names: a cursor carries the position.
_PLATFORM_ORDER = sorted(p.value for p in Platform)


async def page_of_packages(
    platform: Platform | None = None,
    *,
    limit: int,
    after: str | None = None,
    before: str | None = None,
) -> Page[PackageListing]:
    """The staff's list as ``list_packages`` orders it, keyset-paged on (platform, price,
    id): a price changed between two pages moves that package, never the others."""
    after_key = decode_cursor(after, 3, "after")
    before_key = decode_cursor(before, 3, "before")
    query = CoinPackage.select()
    if platform is not None:
        query = query.where(CoinPackage.platform == platform.value)
    key = before_key or after_key
    if key is not None:
        rank, price_minor, package_id = key
        if not 0 <= rank < len(_PLATFORM_ORDER):
            raise DomainError(
                ErrorCode.INVALID_INPUT, BROKEN_CURSOR, "before" if before_key else "after"
            )
        name = _PLATFORM_ORDER[rank]
        beyond = operator.lt if before_key is not None else operator.gt
        query = query.where(
            beyond(CoinPackage.platform, name)
            | (CoinPackage.platform == name)
            & (
                beyond(CoinPackage.price_minor, price_minor)
                | (CoinPackage.price_minor == price_minor) & beyond(CoinPackage.id, package_id)
            )
        )
    rows = await query.order_by(
        CoinPackage.platform,
        CoinPackage.price_minor,
        CoinPackage.id,
        ascending=before_key is None,
    ).limit(limit + 1)
    return cut_page(
        await _listings(rows),
        limit=limit,
        cursor_of=lambda listing: encode_cursor(
            _PLATFORM_ORDER.index(listing.package.platform.value),
            listing.package.price.amount_minor,
            listing.package.id,
        ),
        after=after_key,
        before=before_key,
    )


async def _listings(rows: Sequence[dict[str, Any]]) -> list[PackageListing]:
    """Packages with their country prices, in the order of ``rows``."""
    prices = await CoinPackagePrice.select().where(
        CoinPackagePrice.package_id.is_in([row["id"] for row in rows] or [0])
    )
    by_package: dict[int, dict[str, Money]] = {}
    for price in prices:
        by_package.setdefault(price["package_id"], {})[price["country"]] = Money(
            price["price_minor"], price["currency"]
        )
    return [PackageListing(package_record(row), by_package.get(row["id"], {})) for row in rows]


async def _current(package_id: int) -> dict[str, Any]:
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

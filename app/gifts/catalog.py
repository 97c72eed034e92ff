"""The gift catalog: gifts with versioned prices.

Editing a gift's name or price writes a new ``GiftVersion``; gift events keep pointing at
the version they were sent at, so a price change never rewrites history.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from app.core.clock import utcnow
from app.core.database import is_unique_violation
from app.core.errors import DomainError, ErrorCode
from app.core.transactions import in_transaction
from app.gifts.tables import Gift, GiftVersion

SLUG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
MAX_NAME_LENGTH = 64


@dataclass(frozen=True, slots=True)
class GiftRecord:
    """A gift as priced by one version (the current one, or the one an event was sent at)."""

    id: int
    version_id: int
    slug: str
    name: str
    coin_cost: int
    diamond_value: int
    image_url: str | None
    retired: bool


def diamond_value_for(coin_cost: int, creator_share: Fraction) -> int:
    """``coin_cost * creator_share`` rounded half up, in the creator's favour; at least 1."""
    exact = Fraction(coin_cost) * creator_share
    rounded = int(
        (Decimal(exact.numerator) / Decimal(exact.denominator)).to_integral_value(ROUND_HALF_UP)
    )
    return max(1, rounded)


def _validate(slug: str, name: str, coin_cost: int, diamond_value: int | None) -> None:
    if not SLUG_PATTERN.fullmatch(slug):
        raise DomainError(
            ErrorCode.INVALID_INPUT, "A slug is lowercase letters, digits and '-'.", "slug"
        )
    if not name.strip() or len(name) > MAX_NAME_LENGTH:
        raise DomainError(
            ErrorCode.INVALID_INPUT, f"A name is 1 to {MAX_NAME_LENGTH} characters.", "name"
        )
    if coin_cost <= 0:
        raise DomainError(ErrorCode.INVALID_INPUT, "A gift costs at least 1 coin.", "coinCost")
    if diamond_value is not None and diamond_value <= 0:
        raise DomainError(
            ErrorCode.INVALID_INPUT, "A gift earns at least 1 diamond.", "diamondValue"
        )


async def _add_version(
    gift_id: int,
    name: str,
    coin_cost: int,
    diamond_value: int,
    image_url: str | None,
) -> int:
    rows = await GiftVersion.raw(
        "INSERT INTO gift_version (gift_id, name, coin_cost, diamond_value, image_url, "
        "created_at) VALUES ({}, {}, {}, {}, {}, {}) RETURNING id",
        gift_id,
        name.strip(),
        coin_cost,
        diamond_value,
        image_url,
        utcnow(),
    )
    version_id = rows[0]["id"]
    await Gift.update({Gift.current_version_id: version_id}).where(Gift.id == gift_id)
    return version_id


async def create_gift(
    *,
    slug: str,
    name: str,
    coin_cost: int,
    creator_share: Fraction,
    diamond_value: int | None = None,
    image_url: str | None = None,
) -> GiftRecord:
    """Add a gift; its diamond value follows the creator share unless given explicitly."""
    _validate(slug, name, coin_cost, diamond_value)
    diamonds = diamond_value or diamond_value_for(coin_cost, creator_share)

    async def work() -> int:
        try:
            rows = await Gift.raw(
                "INSERT INTO gift (slug, current_version_id, retired, created_at) "
                "VALUES ({}, NULL, {}, {}) RETURNING id",
                slug,
                False,
                utcnow(),
            )
        except Exception as error:
            if is_unique_violation(error):
                raise DomainError(
                    ErrorCode.INVALID_INPUT, "A gift with this slug exists.", "slug"
                ) from error
            raise
        gift_id = rows[0]["id"]
        await _add_version(gift_id, name, coin_cost, diamonds, image_url)
        return gift_id

    return await get_gift(await in_transaction(work))


async def edit_gift(
    gift_id: int,
    *,
    name: str,
    coin_cost: int,
    creator_share: Fraction,
    diamond_value: int | None = None,
    image_url: str | None = None,
) -> GiftRecord:
    """Re-price or rename a gift as a new version; events already sent keep their price."""
    current = await get_gift(gift_id)
    _validate(current.slug, name, coin_cost, diamond_value)
    diamonds = diamond_value or diamond_value_for(coin_cost, creator_share)

    async def work() -> None:
        await _add_version(gift_id, name, coin_cost, diamonds, image_url)

    await in_transaction(work)
    return await get_gift(gift_id)


async def set_retired(gift_id: int, retired: bool) -> GiftRecord:
    await get_gift(gift_id)
    await Gift.update({Gift.retired: retired}).where(Gift.id == gift_id)
    return await get_gift(gift_id)


def _record(row: dict) -> GiftRecord:
    return GiftRecord(
        id=row["id"],
        version_id=row["version_id"],
        slug=row["slug"],
        name=row["name"],
        coin_cost=row["coin_cost"],
        diamond_value=row["diamond_value"],
        image_url=row["image_url"],
        retired=bool(row["retired"]),
    )


async def list_gifts(*, include_retired: bool = False) -> list[GiftRecord]:
    """The catalog at current prices, cheapest first."""
    where = "" if include_retired else " WHERE NOT g.retired"
    rows = await Gift.raw(
        "SELECT g.id, g.slug, g.retired, v.id AS version_id, v.name, v.coin_cost, "  # noqa: S608 (only "{}" placeholders are formatted in)
        "v.diamond_value, v.image_url FROM gift g JOIN gift_version v "
        f"ON v.id = g.current_version_id{where} ORDER BY v.coin_cost, g.id"
    )
    return [_record(row) for row in rows]


async def gifts_by_ids(gift_ids: Sequence[int]) -> dict[int, GiftRecord]:
    """Gifts at their current version."""
    if not gift_ids:
        return {}
    ids = sorted(set(gift_ids))
    placeholders = ", ".join("{}" for _ in ids)
    rows = await Gift.raw(
        "SELECT g.id, g.slug, g.retired, v.id AS version_id, v.name, v.coin_cost, "  # noqa: S608 (only "{}" placeholders are formatted in)
        "v.diamond_value, v.image_url FROM gift g JOIN gift_version v "
        f"ON v.id = g.current_version_id WHERE g.id IN ({placeholders})",
        *ids,
    )
    return {row["id"]: _record(row) for row in rows}


async def gifts_by_version_ids(version_ids: Sequence[int]) -> dict[int, GiftRecord]:
    """Gifts as priced by the given versions (what a gift event was sent at)."""
    if not version_ids:
        return {}
    ids = sorted(set(version_ids))
    placeholders = ", ".join("{}" for _ in ids)
    rows = await Gift.raw(
        "SELECT g.id, g.slug, g.retired, v.id AS version_id, v.name, v.coin_cost, "  # noqa: S608 (only "{}" placeholders are formatted in)
        "v.diamond_value, v.image_url FROM gift_version v JOIN gift g "
        f"ON g.id = v.gift_id WHERE v.id IN ({placeholders})",
        *ids,
    )
    return {row["version_id"]: _record(row) for row in rows}


async def get_gift(gift_id: int) -> GiftRecord:
    found = await gifts_by_ids([gift_id])
    if gift_id not in found:
        raise DomainError(ErrorCode.NOT_FOUND, "No such gift.", "giftId")
    return found[gift_id]


async def find_by_slug(slug: str) -> GiftRecord | None:
    row = await Gift.select(Gift.id).where(Gift.slug == slug).first()
    return await get_gift(row["id"]) if row else None

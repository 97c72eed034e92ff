"""The gift catalog: gifts with versioned prices, render data and availability.

Editing a gift's name, price or details (``app.gifts.details``) writes a new
``GiftVersion``; gift events keep pointing at the version they were sent at, so a price
change never rewrites history.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from urllib.parse import urlsplit

from app.audit import service as audit
from app.audit.service import Actor
from app.core.clock import as_utc, utcnow
from app.core.countries import normalize_country
from app.core.database import is_unique_violation
from app.core.errors import DomainError, ErrorCode
from app.core.paging import Page, cut_page, decode_cursor, encode_cursor
from app.core.transactions import in_transaction
from app.gifts.details import (
    NOT_AVAILABLE,
    NOT_YET,
    GiftDetails,
    details_from_row,
    unavailable_reason,
    validate_details,
)
from app.gifts.tables import Gift, GiftVersion

SLUG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
MAX_NAME_LENGTH = 64
MAX_COIN_COST = 10_000_000
MAX_IMAGE_URL_LENGTH = 2_000


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
    details: GiftDetails = field(default_factory=GiftDetails)


@dataclass(frozen=True, slots=True)
class GiftVersionRecord:
    """One price of a gift, from ``created_at`` until the next version."""

    id: int
    gift_id: int
    name: str
    coin_cost: int
    diamond_value: int
    image_url: str | None
    created_at: datetime
    created_by: str | None
    details: GiftDetails = field(default_factory=GiftDetails)


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
    if not name.strip() or len(name.strip()) > MAX_NAME_LENGTH:
        raise DomainError(
            ErrorCode.INVALID_INPUT, f"A name is 1 to {MAX_NAME_LENGTH} characters.", "name"
        )
    if coin_cost <= 0:
        raise DomainError(ErrorCode.INVALID_INPUT, "A gift costs at least 1 coin.", "coinCost")
    if coin_cost > MAX_COIN_COST:
        raise DomainError(
            ErrorCode.INVALID_INPUT, f"A gift costs at most {MAX_COIN_COST:,} coins.", "coinCost"
        )
    if diamond_value is not None and diamond_value <= 0:
        raise DomainError(
            ErrorCode.INVALID_INPUT, "A gift earns at least 1 diamond.", "diamondValue"
        )
    if diamond_value is not None and diamond_value > coin_cost:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            "A gift cannot earn more diamonds than it costs coins.",
            "diamondValue",
        )


def normalize_image_url(image_url: str | None) -> str | None:
    """An http(s) URL or a path on this site; blank means no image."""
    if image_url is None or not image_url.strip():
        return None
    url = image_url.strip()
    parts = urlsplit(url)
    on_this_site = not parts.scheme and not parts.netloc and url.startswith("/")
    remote = parts.scheme in ("http", "https") and bool(parts.netloc)
    if (
        len(url) > MAX_IMAGE_URL_LENGTH
        or not (on_this_site or remote)
        or any(c.isspace() for c in url)
    ):
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            "An image URL starts with https://, http:// or / and has no spaces.",
            "imageUrl",
        )
    return url


def _snapshot(record: GiftRecord) -> dict[str, object]:
    return {
        "version_id": record.version_id,
        "name": record.name,
        "coin_cost": record.coin_cost,
        "diamond_value": record.diamond_value,
        "image_url": record.image_url,
        **record.details.snapshot(),
    }


async def _add_version(
    gift_id: int,
    name: str,
    coin_cost: int,
    diamond_value: int,
    image_url: str | None,
    actor: Actor | None,
    details: GiftDetails,
) -> int:
    rows = await GiftVersion.insert(
        GiftVersion(
            gift_id=gift_id,
            name=name.strip(),
            coin_cost=coin_cost,
            diamond_value=diamond_value,
            image_url=image_url,
            created_at=utcnow(),
            created_by=actor.handle if actor else None,
            **details.columns(),
        )
    ).returning(GiftVersion.id)
    version_id = rows[0]["id"]
    await Gift.update({Gift.current_version_id: version_id}).where(Gift.id == gift_id)
    return version_id


async def _lock_gift(gift_id: int) -> GiftRecord:
    """Read the gift inside the transaction, holding its row until the commit."""
    rows = await Gift.raw("UPDATE gift SET retired = retired WHERE id = {} RETURNING id", gift_id)
    if not rows:
        raise DomainError(ErrorCode.NOT_FOUND, "No such gift.", "giftId")
    return await get_gift(gift_id)


async def create_gift(
    *,
    slug: str,
    name: str,
    coin_cost: int,
    creator_share: Fraction,
    diamond_value: int | None = None,
    image_url: str | None = None,
    details: GiftDetails | None = None,
    actor: Actor | None = None,
) -> GiftRecord:
    """Add a gift; its diamond value follows the creator share unless given explicitly.

    A staff ``actor`` gets an audit entry in the same transaction.
    """
    slug = slug.strip()
    _validate(slug, name, coin_cost, diamond_value)
    image_url = normalize_image_url(image_url)
    details = validate_details(details or GiftDetails())
    diamonds = diamond_value or diamond_value_for(coin_cost, creator_share)

    async def work() -> int:
        if await Gift.exists().where(Gift.slug == slug):
            raise DomainError(ErrorCode.INVALID_INPUT, "A gift with this slug exists.", "slug")
        try:
            rows = await Gift.insert(
                Gift(slug=slug, current_version_id=None, retired=False, created_at=utcnow())
            ).returning(Gift.id)
        except Exception as error:
            if is_unique_violation(error):
                raise DomainError(
                    ErrorCode.INVALID_INPUT, "A gift with this slug exists.", "slug"
                ) from error
            raise
        gift_id = rows[0]["id"]
        version_id = await _add_version(
            gift_id, name, coin_cost, diamonds, image_url, actor, details
        )
        if actor is not None:
            await audit.record(
                actor,
                "gift.create",
                target_type="gift",
                target_id=gift_id,
                after={
                    "slug": slug,
                    "version_id": version_id,
                    "name": name.strip(),
                    "coin_cost": coin_cost,
                    "diamond_value": diamonds,
                    "image_url": image_url,
                    **details.snapshot(),
                },
            )
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
    details: GiftDetails | None = None,
    actor: Actor | None = None,
    expected_version_id: int | None = None,
) -> GiftRecord:
    """Re-price, rename or re-dress a gift as a new version; events already sent keep their
    price.

    ``details`` None keeps the current version's render data and availability. Nothing
    changes when the new version would equal the current one. With ``expected_version_id``
    (the version an editor saw) a concurrent edit is refused instead of silently
    overwritten.
    """
    current = await get_gift(gift_id)
    _validate(current.slug, name, coin_cost, diamond_value)
    image_url = normalize_image_url(image_url)
    checked = validate_details(details) if details is not None else None
    diamonds = diamond_value or diamond_value_for(coin_cost, creator_share)

    async def work() -> None:
        before = await _lock_gift(gift_id)
        if expected_version_id is not None and before.version_id != expected_version_id:
            raise DomainError(
                ErrorCode.INVALID_INPUT,
                "Someone changed this gift while you were editing; review it and save again.",
                "version",
            )
        new_details = checked if checked is not None else before.details
        unchanged = (
            before.name,
            before.coin_cost,
            before.diamond_value,
            before.image_url,
            before.details,
        )
        if unchanged == (name.strip(), coin_cost, diamonds, image_url, new_details):
            return
        version_id = await _add_version(
            gift_id, name, coin_cost, diamonds, image_url, actor, new_details
        )
        if actor is not None:
            await audit.record(
                actor,
                "gift.edit",
                target_type="gift",
                target_id=gift_id,
                before=_snapshot(before),
                after={
                    "version_id": version_id,
                    "name": name.strip(),
                    "coin_cost": coin_cost,
                    "diamond_value": diamonds,
                    "image_url": image_url,
                    **new_details.snapshot(),
                },
            )

    await in_transaction(work)
    return await get_gift(gift_id)


async def set_retired(
    gift_id: int, retired: bool, *, actor: Actor | None = None, reason: str = ""
) -> GiftRecord:
    """Take a gift off the catalog (it can no longer be sent) or put it back."""

    async def work() -> None:
        before = await _lock_gift(gift_id)
        if before.retired == retired:
            return
        await Gift.update({Gift.retired: retired}).where(Gift.id == gift_id)
        if actor is not None:
            await audit.record(
                actor,
                "gift.retire" if retired else "gift.restore",
                target_type="gift",
                target_id=gift_id,
                before={"retired": before.retired},
                after={"retired": retired},
                reason=reason.strip(),
            )

    await in_transaction(work)
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
        details=details_from_row(row),
    )


# A gift as priced by one version: at its current version, or at the version an event used.
_GIFT_COLUMNS = (
    "SELECT g.id, g.slug, g.retired, v.id AS version_id, v.name, v.coin_cost, "
    "v.diamond_value, v.image_url, v.thumbnail_url, v.animation_url, v.animation_kind, v.tier, "
    "v.category, v.sort_order, v.availability_kind, v.available_from, v.available_until, "
    "v.regions "
)
_AT_CURRENT_VERSION = _GIFT_COLUMNS + (
    "FROM gift g JOIN gift_version v ON v.id = g.current_version_id"
)
_AT_GIVEN_VERSION = _GIFT_COLUMNS + "FROM gift_version v JOIN gift g ON g.id = v.gift_id"


def _placeholders(ids: Sequence[int]) -> str:
    return ", ".join("{}" for _ in ids)


async def list_gifts(
    *,
    include_retired: bool = False,
    category: str | None = None,
    country: str | None = None,
    include_upcoming: bool = False,
) -> list[GiftRecord]:
    """The catalog a viewer in ``country`` can send from now, by sort order then cheapest.

    A gift limited to regions is listed only for a country among them (as only such a
    sender may send it); a gift whose window has closed is not listed; one whose window
    has not opened yet only with ``include_upcoming``. The catalog is a few dozen rows, so
    the window and region rules run here, the same function the send path uses.
    """
    country = normalize_country(country)
    category = (category or "").strip().lower() or None
    where = "" if include_retired else " WHERE NOT g.retired"
    rows = await Gift.raw(f"{_AT_CURRENT_VERSION}{where} ORDER BY v.coin_cost, g.id")
    now = utcnow()
    listed = []
    for gift in map(_record, rows):
        if category is not None and gift.details.category != category:
            continue
        reason = unavailable_reason(gift.details, now, country)
        opens = gift.details.available_from
        if include_upcoming and reason is not None and reason[0] == NOT_YET and opens:
            reason = unavailable_reason(gift.details, opens, country)  # as it will open
        if reason is not None and not (include_retired and gift.retired):
            continue
        listed.append(gift)
    return sorted(listed, key=lambda gift: (gift.details.sort_order, gift.coin_cost, gift.id))


def require_sendable(gift: GiftRecord | None, now: datetime, country: str | None) -> GiftRecord:
    """The gift, or GIFT_UNAVAILABLE saying why (as ``gifts_sendable_version`` does)."""
    if gift is None or gift.retired:
        raise DomainError(ErrorCode.GIFT_UNAVAILABLE, NOT_AVAILABLE, "giftId")
    reason = unavailable_reason(gift.details, now, country)
    if reason is not None:
        raise DomainError(ErrorCode.GIFT_UNAVAILABLE, reason[0], reason[1])
    return gift


async def gifts_by_ids(gift_ids: Sequence[int]) -> dict[int, GiftRecord]:
    """Gifts at their current version."""
    if not gift_ids:
        return {}
    ids = sorted(set(gift_ids))
    rows = await Gift.raw(f"{_AT_CURRENT_VERSION} WHERE g.id IN ({_placeholders(ids)})", *ids)
    return {row["id"]: _record(row) for row in rows}


async def gifts_by_version_ids(version_ids: Sequence[int]) -> dict[int, GiftRecord]:
    """Gifts as priced by the given versions (what a gift event was sent at)."""
    if not version_ids:
        return {}
    ids = sorted(set(version_ids))
    rows = await Gift.raw(f"{_AT_GIVEN_VERSION} WHERE v.id IN ({_placeholders(ids)})", *ids)
    return {row["version_id"]: _record(row) for row in rows}


async def get_gift(gift_id: int) -> GiftRecord:
    found = await gifts_by_ids([gift_id])
    if gift_id not in found:
        raise DomainError(ErrorCode.NOT_FOUND, "No such gift.", "giftId")
    return found[gift_id]


async def find_by_slug(slug: str) -> GiftRecord | None:
    row = await Gift.select(Gift.id).where(Gift.slug == slug).first()
    return await get_gift(row["id"]) if row else None


async def list_versions(gift_id: int) -> list[GiftVersionRecord]:
    """A gift's price history, newest first."""
    rows = (
        await GiftVersion.select()
        .where(GiftVersion.gift_id == gift_id)
        .order_by(GiftVersion.id, ascending=False)
    )
    return [
        GiftVersionRecord(
            id=row["id"],
            gift_id=row["gift_id"],
            name=row["name"],
            coin_cost=row["coin_cost"],
            diamond_value=row["diamond_value"],
            image_url=row["image_url"],
            created_at=as_utc(row["created_at"]),
            created_by=row["created_by"],
            details=details_from_row(row),
        )
        for row in rows
    ]


async def search_gifts(
    *,
    query: str = "",
    retired: bool | None = None,
    limit: int,
    after: str | None = None,
    before: str | None = None,
) -> Page[GiftRecord]:
    """The admin's catalog, cheapest first: slug or name containing ``query``; on sale,
    retired or both.

    Keyset paging on (coin cost, id): the cursor carries the cost it was read at, so a
    price edited between two pages moves that gift without shifting the others.
    """
    conditions, args = [], []
    if retired is not None:
        conditions.append("g.retired = {}")
        args.append(retired)
    if query.strip():
        conditions.append("(LOWER(g.slug) LIKE {} OR LOWER(v.name) LIKE {})")
        pattern = "%" + query.strip().lower().replace("%", "").replace("_", "") + "%"
        args += [pattern, pattern]
    after_key = decode_cursor(after, 2, "after")
    before_key = decode_cursor(before, 2, "before")
    cursor = before_key or after_key
    if cursor is not None:
        sign = "<" if before_key else ">"
        conditions.append(f"(v.coin_cost {sign} {{}} OR (v.coin_cost = {{}} AND g.id {sign} {{}}))")
        args += [cursor[0], cursor[0], cursor[1]]
    where = (" WHERE " + " AND ".join(conditions)) if conditions else ""
    order = "DESC" if before_key else "ASC"
    rows = await Gift.raw(
        f"{_AT_CURRENT_VERSION}{where} ORDER BY v.coin_cost {order}, g.id {order} LIMIT {{}}",
        *args,
        limit + 1,
    )
    return cut_page(
        [_record(row) for row in rows],
        limit=limit,
        cursor_of=lambda gift: encode_cursor(gift.coin_cost, gift.id),
        after=after_key,
        before=before_key,
    )

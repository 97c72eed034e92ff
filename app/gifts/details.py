"""What a gift version carries besides its price: how apps render it and when and where it
may be sent.

Render data (assets, animation kind, tier, category, sort order) and availability (a window
and regions) live on the version, like the price, so an edit is a new version with a
history. ``unavailable_reason`` is the one rule for "may this gift be sent now, here": the
catalog query lists by it and the SQLite send path refuses by it; ``gifts_sendable_version``
(PostgreSQL, ``piccolo_migrations``) states the same rule for the one-statement send.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from app.core.clock import as_utc
from app.core.countries import normalize_country
from app.core.errors import DomainError, ErrorCode

MAX_ASSET_URL_LENGTH = 2_000
MAX_TIER = 10
MAX_SORT_ORDER = 1_000_000
CATEGORY_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
MAX_REGIONS = 100


class AnimationKind(enum.StrEnum):
    """The player an app needs for a gift's animation asset."""

    NONE = "NONE"
    LOTTIE = "LOTTIE"
    SVGA = "SVGA"
    VIDEO = "VIDEO"


class AvailabilityKind(enum.StrEnum):
    """Why a gift has a window: always on sale, a season (e.g. winter) or an event."""

    PERMANENT = "PERMANENT"
    SEASONAL = "SEASONAL"
    EVENT = "EVENT"


@dataclass(frozen=True, slots=True)
class GiftDetails:
    """A version's render data and availability; the defaults are a plain, always-on gift."""

    thumbnail_url: str | None = None
    animation_url: str | None = None
    animation_kind: AnimationKind = AnimationKind.NONE
    tier: int = 1
    category: str | None = None
    sort_order: int = 0
    availability_kind: AvailabilityKind = AvailabilityKind.PERMANENT
    available_from: datetime | None = None
    available_until: datetime | None = None
    regions: tuple[str, ...] = ()  # ISO 3166-1 alpha-2, sorted; empty: everywhere

    def columns(self) -> dict[str, object]:
        """The ``gift_version`` columns, as stored (regions comma-separated)."""
        return {
            "thumbnail_url": self.thumbnail_url,
            "animation_url": self.animation_url,
            "animation_kind": self.animation_kind.value,
            "tier": self.tier,
            "category": self.category,
            "sort_order": self.sort_order,
            "availability_kind": self.availability_kind.value,
            "available_from": self.available_from,
            "available_until": self.available_until,
            "regions": ",".join(self.regions),
        }

    def snapshot(self) -> dict[str, object]:
        """For the audit log (JSON)."""
        data = self.columns()
        for key in ("available_from", "available_until"):
            value = data[key]
            data[key] = value.isoformat() if isinstance(value, datetime) else None
        return data


def details_from_row(row: dict) -> GiftDetails:
    """A ``gift_version`` row (or a join naming its columns) as ``GiftDetails``."""
    regions = row["regions"] or ""
    return GiftDetails(
        thumbnail_url=row["thumbnail_url"],
        animation_url=row["animation_url"],
        animation_kind=AnimationKind(row["animation_kind"]),
        tier=row["tier"],
        category=row["category"],
        sort_order=row["sort_order"],
        availability_kind=AvailabilityKind(row["availability_kind"]),
        available_from=_utc_or_none(row["available_from"]),
        available_until=_utc_or_none(row["available_until"]),
        regions=tuple(code for code in regions.split(",") if code),
    )


def _utc_or_none(value: datetime | None) -> datetime | None:
    return as_utc(value) if value is not None else None


def normalize_asset_url(url: str | None, field: str) -> str | None:
    """An https URL or a path on this site (``/static/…``); blank means none.

    Apps fetch these assets themselves, so plain http (mixed content, refused by app
    transport security) is not accepted."""
    if url is None or not url.strip():
        return None
    url = url.strip()
    parts = urlsplit(url)
    on_this_site = not parts.scheme and not parts.netloc and url.startswith("/")
    if url.startswith("//"):
        on_this_site = False
    remote = parts.scheme == "https" and bool(parts.netloc)
    if (
        len(url) > MAX_ASSET_URL_LENGTH
        or not (on_this_site or remote)
        or any(c.isspace() for c in url)
    ):
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            "An asset URL starts with https:// or / and has no spaces.",
            field,
        )
    return url


def normalize_regions(regions: Iterable[str]) -> tuple[str, ...]:
    codes = {normalize_country(code, "regions") for code in regions}
    codes.discard(None)
    if len(codes) > MAX_REGIONS:
        raise DomainError(
            ErrorCode.INVALID_INPUT, f"A gift lists at most {MAX_REGIONS} regions.", "regions"
        )
    return tuple(sorted(code for code in codes if code))


def validate_details(details: GiftDetails) -> GiftDetails:
    """The details as stored (URLs trimmed, regions sorted), or INVALID_INPUT naming the
    field to fix."""
    thumbnail = normalize_asset_url(details.thumbnail_url, "thumbnailUrl")
    animation = normalize_asset_url(details.animation_url, "animationUrl")
    kind = AnimationKind(details.animation_kind)
    if kind is AnimationKind.NONE and animation is not None:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            "Choose the animation's kind (Lottie, SVGA or video).",
            "animationKind",
        )
    if kind is not AnimationKind.NONE and animation is None:
        raise DomainError(
            ErrorCode.INVALID_INPUT, "An animated gift needs its animation URL.", "animationUrl"
        )
    if not 1 <= details.tier <= MAX_TIER:
        raise DomainError(ErrorCode.INVALID_INPUT, f"A tier is 1 to {MAX_TIER}.", "tier")
    category = (details.category or "").strip().lower() or None
    if category is not None and not CATEGORY_PATTERN.fullmatch(category):
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            "A category is up to 32 lowercase letters, digits and '-'.",
            "category",
        )
    if not -MAX_SORT_ORDER <= details.sort_order <= MAX_SORT_ORDER:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"A sort order is between -{MAX_SORT_ORDER:,} and {MAX_SORT_ORDER:,}.",
            "sortOrder",
        )
    start = _utc_or_none(details.available_from)
    end = _utc_or_none(details.available_until)
    if start is not None and end is not None and end <= start:
        raise DomainError(
            ErrorCode.INVALID_INPUT, "A gift's window ends after it starts.", "availableUntil"
        )
    availability = AvailabilityKind(details.availability_kind)
    if availability is not AvailabilityKind.PERMANENT and start is None and end is None:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            "A seasonal or event gift needs a window: set when it starts or ends.",
            "availableFrom",
        )
    return GiftDetails(
        thumbnail_url=thumbnail,
        animation_url=animation,
        animation_kind=kind,
        tier=details.tier,
        category=category,
        sort_order=details.sort_order,
        availability_kind=availability,
        available_from=start,
        available_until=end,
        regions=normalize_regions(details.regions),
    )


# The refusals, word for word as ``gifts_sendable_version`` raises them.
NOT_AVAILABLE = "This gift is not available."
NOT_YET = "This gift is not available yet."
NO_LONGER = "This gift is no longer available."
NOT_HERE = "This gift is not available in your country."


def unavailable_reason(
    details: GiftDetails, now: datetime, country: str | None
) -> tuple[str, str] | None:
    """Why the gift cannot be sent at ``now`` from ``country``, as (message, field); None
    when it can. A gift limited to regions needs the sender's country."""
    if details.available_from is not None and now < details.available_from:
        return NOT_YET, "giftId"
    if details.available_until is not None and now >= details.available_until:
        return NO_LONGER, "giftId"
    if details.regions and country not in details.regions:
        return NOT_HERE, "country"
    return None

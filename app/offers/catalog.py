"""Partner offers as staff keep them: the offers, their prices and their pools of codes.

Each staff change writes its audit entry in the same transaction.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from piccolo.query.functions.aggregate import Count

from app.audit import service as audit
from app.audit.service import Actor
from app.core.clock import as_utc, utcnow
from app.core.errors import DomainError, ErrorCode
from app.core.paging import Page, cut_page, decode_cursor, encode_cursor
from app.core.transactions import in_transaction
from app.offers.tables import OfferCode, PartnerOffer


@dataclass(frozen=True, slots=True)
class OfferRecord:
    id: int
    brand: str
    title: str
    coin_cost: int
    active: bool
    codes_left: int
    per_user_limit: int = 1
    expires_at: datetime | None = None
    terms: str = ""

    @property
    def expired(self) -> bool:
        """Past its expiry date now (by the service clock): no longer listed or redeemable."""
        return is_expired(self.expires_at, utcnow())

    @property
    def available(self) -> bool:
        return self.active and self.codes_left > 0 and not self.expired


def is_expired(expires_at: datetime | None, now: datetime) -> bool:
    """An offer expires at its ``expires_at`` instant (inclusive); None never expires."""
    return expires_at is not None and as_utc(expires_at) <= now


MAX_BRAND_LENGTH = 64
MAX_TITLE_LENGTH = 120
MAX_CODE_LENGTH = 128
MAX_CODES_PER_LOAD = 20_000
MAX_TERMS_LENGTH = 2_000
MAX_PER_USER_LIMIT = 1_000
_INSERT_BATCH = 200  # 3 parameters a row stays far below SQLite's parameter limit


@dataclass(frozen=True, slots=True)
class CodesLoaded:
    """What a load did: codes added, and codes skipped as already in the pool or repeated."""

    added: int
    duplicates: list[str]


def _validate_offer(
    brand: str, title: str, coin_cost: int, per_user_limit: int, terms: str
) -> None:
    if not brand.strip() or len(brand.strip()) > MAX_BRAND_LENGTH:
        raise DomainError(
            ErrorCode.INVALID_INPUT, f"A brand is 1 to {MAX_BRAND_LENGTH} characters.", "brand"
        )
    if not title.strip() or len(title.strip()) > MAX_TITLE_LENGTH:
        raise DomainError(
            ErrorCode.INVALID_INPUT, f"A title is 1 to {MAX_TITLE_LENGTH} characters.", "title"
        )
    if coin_cost <= 0:
        raise DomainError(ErrorCode.INVALID_INPUT, "An offer costs at least 1 coin.", "coinCost")
    if not 1 <= per_user_limit <= MAX_PER_USER_LIMIT:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"A user may take 1 to {MAX_PER_USER_LIMIT} codes of an offer.",
            "perUserLimit",
        )
    if len(terms.strip()) > MAX_TERMS_LENGTH:
        raise DomainError(
            ErrorCode.INVALID_INPUT, f"Terms are at most {MAX_TERMS_LENGTH:,} characters.", "terms"
        )


def _fields(row: dict[str, Any]) -> dict[str, object]:
    """An offer's editable fields as the audit log stores them (an instant as ISO text)."""
    expires_at = row["expires_at"]
    return {
        "brand": row["brand"],
        "title": row["title"],
        "coin_cost": row["coin_cost"],
        "active": bool(row["active"]),
        "per_user_limit": row["per_user_limit"],
        "expires_at": None if expires_at is None else as_utc(expires_at).isoformat(),
        "terms": row["terms"],
    }


async def create_offer(
    *,
    brand: str,
    title: str,
    coin_cost: int,
    active: bool = True,
    per_user_limit: int = 1,
    expires_at: datetime | None = None,
    terms: str = "",
    actor: Actor | None = None,
) -> int:
    """A new offer (its pool starts empty); a staff ``actor`` gets an audit entry.

    ``per_user_limit``: codes one user may take (one by default, so nobody empties a pool);
    ``expires_at``: when it stops being listed and redeemable (None: never)."""
    _validate_offer(brand, title, coin_cost, per_user_limit, terms)
    values: dict[str, Any] = {
        "brand": brand.strip(),
        "title": title.strip(),
        "coin_cost": coin_cost,
        "active": active,
        "per_user_limit": per_user_limit,
        "expires_at": None if expires_at is None else as_utc(expires_at),
        "terms": terms.strip(),
    }

    async def work() -> int:
        rows = await PartnerOffer.insert(PartnerOffer(**values, created_at=utcnow())).returning(
            PartnerOffer.id
        )
        offer_id = rows[0]["id"]
        if actor is not None:
            await audit.record(
                actor,
                "offer.create",
                target_type="partner_offer",
                target_id=offer_id,
                after=_fields(values),
            )
        return offer_id

    return await in_transaction(work)


async def _lock_offer(offer_id: int) -> dict:
    """The offer's row, read and held inside the transaction."""
    rows = await PartnerOffer.raw(
        "UPDATE partner_offer SET active = active WHERE id = {} "
        "RETURNING id, brand, title, coin_cost, active",
        offer_id,
    )
    if not rows:
        raise DomainError(ErrorCode.NOT_FOUND, "No such offer.", "offerId")
    return rows[0]


async def edit_offer(
    offer_id: int,
    *,
    brand: str,
    title: str,
    coin_cost: int,
    active: bool,
    per_user_limit: int,
    expires_at: datetime | None,
    terms: str,
    actor: Actor,
) -> None:
    """Change an offer; redemptions already made keep the coins they cost and their codes.

    A lower ``per_user_limit`` stops further redemptions of users already at it; a past
    ``expires_at`` ends the offer at once."""
    _validate_offer(brand, title, coin_cost, per_user_limit, terms)
    values: dict[str, Any] = {
        "brand": brand.strip(),
        "title": title.strip(),
        "coin_cost": coin_cost,
        "active": active,
        "per_user_limit": per_user_limit,
        "expires_at": None if expires_at is None else as_utc(expires_at),
        "terms": terms.strip(),
    }
    after = _fields(values)

    async def work() -> None:
        await _lock_offer(offer_id)
        row = await PartnerOffer.select().where(PartnerOffer.id == offer_id).first()
        before = _fields(row)
        if before == after:
            return
        await PartnerOffer.update(
            {getattr(PartnerOffer, name): value for name, value in values.items()}
        ).where(PartnerOffer.id == offer_id)
        changed = [key for key in after if before[key] != after[key]]
        await audit.record(
            actor,
            "offer.edit",
            target_type="partner_offer",
            target_id=offer_id,
            before={key: before[key] for key in changed},
            after={key: after[key] for key in changed},
        )

    await in_transaction(work)


async def set_active(offer_id: int, active: bool, *, actor: Actor | None = None) -> None:
    async def work() -> None:
        before = await _lock_offer(offer_id)
        if bool(before["active"]) == active:
            return
        await PartnerOffer.update({PartnerOffer.active: active}).where(PartnerOffer.id == offer_id)
        if actor is not None:
            await audit.record(
                actor,
                "offer.activate" if active else "offer.deactivate",
                target_type="partner_offer",
                target_id=offer_id,
                before={"active": bool(before["active"])},
                after={"active": active},
            )

    await in_transaction(work)


def parse_codes(text: str) -> list[str]:
    """Codes from pasted text or an uploaded text/CSV file: the first cell of each line.

    Blank lines and a header line reading ``code`` are ignored; quotes around a cell are
    removed. A code longer than the column or with spaces inside is refused with its line.
    """
    codes = []
    for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        cell = row[0].strip() if row else ""
        if not cell or (number == 1 and cell.lower() in ("code", "codes")):
            continue
        if len(cell) > MAX_CODE_LENGTH or any(c.isspace() or not c.isprintable() for c in cell):
            raise DomainError(
                ErrorCode.INVALID_INPUT,
                f"Line {number}: a code is at most {MAX_CODE_LENGTH} characters, without spaces.",
                "codes",
            )
        codes.append(cell)
    return codes


async def load_codes(
    offer_id: int, codes: Sequence[str], *, actor: Actor | None = None
) -> CodesLoaded:
    """Load discount codes into an offer's pool in one transaction.

    Codes already in the pool (handed out or not) and repeats within ``codes`` are skipped
    and reported, never loaded twice.
    """
    wanted = [c.strip() for c in codes if c.strip()]
    if len(wanted) > MAX_CODES_PER_LOAD:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"Load at most {MAX_CODES_PER_LOAD:,} codes at a time.",
            "codes",
        )
    unique = list(dict.fromkeys(wanted))
    repeated = len(wanted) - len(unique)

    async def work() -> CodesLoaded:
        await _lock_offer(offer_id)
        now = utcnow()
        added: set[str] = set()
        for start in range(0, len(unique), _INSERT_BATCH):
            batch = unique[start : start + _INSERT_BATCH]
            values = ", ".join("({}, {}, {})" for _ in batch)
            args: list[object] = []
            for code in batch:
                args += [offer_id, code, now]
            rows = await OfferCode.raw(
                f"INSERT INTO offer_code (offer_id, code, created_at) VALUES {values} "  # noqa: S608 (only "{}" placeholders are formatted in)
                "ON CONFLICT DO NOTHING RETURNING code",
                *args,
            )
            added.update(row["code"] for row in rows)
        duplicates = [code for code in unique if code not in added]
        if actor is not None and (added or duplicates):
            await audit.record(
                actor,
                "offer.load_codes",
                target_type="partner_offer",
                target_id=offer_id,
                after={"added": len(added), "skipped": len(duplicates) + repeated},
            )
        return CodesLoaded(added=len(added), duplicates=duplicates)

    loaded = await in_transaction(work)
    repeats = [
        code for code, n in Counter(wanted).items() if n > 1 and code not in loaded.duplicates
    ]
    return CodesLoaded(added=loaded.added, duplicates=loaded.duplicates + repeats)


async def add_codes(offer_id: int, codes: Sequence[str]) -> int:
    """Load discount codes into an offer's pool; codes already there are skipped."""
    return (await load_codes(offer_id, codes)).added


async def offers_by_ids(offer_ids: Sequence[int] | None = None) -> dict[int, OfferRecord]:
    """Offers with how many codes are left; all offers when ``offer_ids`` is None."""
    query = PartnerOffer.select()
    if offer_ids is not None:
        if not offer_ids:
            return {}
        query = query.where(PartnerOffer.id.is_in(list(set(offer_ids))))
    return await _with_codes_left(await query.order_by(PartnerOffer.id))


async def _with_codes_left(rows: Sequence[dict[str, Any]]) -> dict[int, OfferRecord]:
    """Offer rows as records, counting the unredeemed codes of those offers only."""
    if not rows:
        return {}
    left = (
        await OfferCode.select(OfferCode.offer_id, Count(alias="n"))
        .where(OfferCode.redeemed_by.is_null())
        .where(OfferCode.offer_id.is_in([row["id"] for row in rows]))
        .group_by(OfferCode.offer_id)
    )
    counts = {row["offer_id"]: row["n"] for row in left}
    return {
        row["id"]: OfferRecord(
            id=row["id"],
            brand=row["brand"],
            title=row["title"],
            coin_cost=row["coin_cost"],
            active=bool(row["active"]),
            codes_left=counts.get(row["id"], 0),
            per_user_limit=row["per_user_limit"],
            expires_at=None if row["expires_at"] is None else as_utc(row["expires_at"]),
            terms=row["terms"],
        )
        for row in rows
    }


async def page_of_offers(
    *, active: bool | None = None, limit: int, after: str | None = None, before: str | None = None
) -> Page[OfferRecord]:
    """The staff's list, oldest first, keyset-paged on the offer id."""
    after_key = decode_cursor(after, 1, "after")
    before_key = decode_cursor(before, 1, "before")
    query = PartnerOffer.select()
    if active is not None:
        query = query.where(PartnerOffer.active == active)
    if before_key is not None:
        query = query.where(PartnerOffer.id < before_key[0])
    elif after_key is not None:
        query = query.where(PartnerOffer.id > after_key[0])
    rows = await query.order_by(PartnerOffer.id, ascending=before_key is None).limit(limit + 1)
    records = await _with_codes_left(rows)
    return cut_page(
        [records[row["id"]] for row in rows],
        limit=limit,
        cursor_of=lambda offer: encode_cursor(offer.id),
        after=after_key,
        before=before_key,
    )


async def list_offers() -> list[OfferRecord]:
    """Active offers that have not expired, cheapest first (also those whose pool ran out,
    shown unavailable)."""
    now = utcnow()
    rows = await PartnerOffer.select().where(
        (PartnerOffer.active == True)  # noqa: E712 (a SQL expression, not a comparison)
        & (PartnerOffer.expires_at.is_null() | (PartnerOffer.expires_at > now))
    )
    offers = list((await _with_codes_left(rows)).values())
    return sorted(offers, key=lambda offer: (offer.coin_cost, offer.id))


async def codes_loaded(offer_ids: Sequence[int]) -> dict[int, int]:
    """How many codes each offer's pool ever held (handed out or not)."""
    if not offer_ids:
        return {}
    ids = sorted(set(offer_ids))
    placeholders = ", ".join("{}" for _ in ids)
    rows = await OfferCode.raw(
        "SELECT offer_id, COUNT(*) AS n FROM offer_code "  # noqa: S608 (only "{}" placeholders are formatted in)
        f"WHERE offer_id IN ({placeholders}) GROUP BY offer_id",
        *ids,
    )
    counts = {row["offer_id"]: row["n"] for row in rows}
    return {offer_id: counts.get(offer_id, 0) for offer_id in ids}

"""Partner offers: coins redeemed for a unique discount code from the offer's pool.

Guarantees
- A redemption is one transaction: a code is claimed from the pool, today's spend counter
  grows (and the limits are checked), the coins move from the user to the partner
  redemptions account (REDEMPTION), and the redemption row and idempotency key are written.
- A code is handed out at most once (claimed by a conditional update, and a unique index
  on ``redemption.code_id``); an empty pool or an inactive offer is OFFER_UNAVAILABLE.
- Lock order: the claimed code, the spend counter, then the ledger accounts by id.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from app.audit import service as audit
from app.audit.service import Actor
from app.core.clock import as_utc, utcnow
from app.core.database import is_sqlite
from app.core.errors import DomainError, ErrorCode
from app.core.transactions import in_transaction
from app.ledger import service as ledger
from app.ledger.codes import AccountCode, Currency, TransferKind
from app.offers.tables import OfferCode, PartnerOffer, Redemption
from app.settings import SpendingSettings
from app.spending import service as spending
from app.users import service as users

OPERATION_KIND = "REDEEM_OFFER"


@dataclass(frozen=True, slots=True)
class OfferRecord:
    id: int
    brand: str
    title: str
    coin_cost: int
    active: bool
    codes_left: int

    @property
    def available(self) -> bool:
        return self.active and self.codes_left > 0


@dataclass(frozen=True, slots=True)
class RedemptionRecord:
    id: int
    offer_id: int
    user_id: int
    code: str
    coins: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Redeemed:
    redemption: RedemptionRecord
    replayed: bool = False


def _unavailable() -> DomainError:
    return DomainError(ErrorCode.OFFER_UNAVAILABLE, "This offer is not available.", "offerId")


MAX_BRAND_LENGTH = 64
MAX_TITLE_LENGTH = 120
MAX_CODE_LENGTH = 128
MAX_CODES_PER_LOAD = 20_000
_INSERT_BATCH = 200  # 3 parameters a row stays far below SQLite's parameter limit


@dataclass(frozen=True, slots=True)
class CodesLoaded:
    """What a load did: codes added, and codes skipped as already in the pool or repeated."""

    added: int
    duplicates: list[str]


def _validate_offer(brand: str, title: str, coin_cost: int) -> None:
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


def _fields(row: dict) -> dict[str, object]:
    return {
        "brand": row["brand"],
        "title": row["title"],
        "coin_cost": row["coin_cost"],
        "active": bool(row["active"]),
    }


async def create_offer(
    *, brand: str, title: str, coin_cost: int, active: bool = True, actor: Actor | None = None
) -> int:
    """A new offer (its pool starts empty); a staff ``actor`` gets an audit entry."""
    _validate_offer(brand, title, coin_cost)

    async def work() -> int:
        rows = await PartnerOffer.raw(
            "INSERT INTO partner_offer (brand, title, coin_cost, active, created_at) "
            "VALUES ({}, {}, {}, {}, {}) RETURNING id",
            brand.strip(),
            title.strip(),
            coin_cost,
            active,
            utcnow(),
        )
        offer_id = rows[0]["id"]
        if actor is not None:
            await audit.record(
                actor,
                "offer.create",
                target_type="partner_offer",
                target_id=offer_id,
                after={
                    "brand": brand.strip(),
                    "title": title.strip(),
                    "coin_cost": coin_cost,
                    "active": active,
                },
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
    offer_id: int, *, brand: str, title: str, coin_cost: int, active: bool, actor: Actor
) -> None:
    """Change an offer; redemptions already made keep the coins they cost."""
    _validate_offer(brand, title, coin_cost)
    after = {
        "brand": brand.strip(),
        "title": title.strip(),
        "coin_cost": coin_cost,
        "active": active,
    }

    async def work() -> None:
        before = _fields(await _lock_offer(offer_id))
        if before == after:
            return
        await PartnerOffer.update(
            {
                PartnerOffer.brand: after["brand"],
                PartnerOffer.title: after["title"],
                PartnerOffer.coin_cost: coin_cost,
                PartnerOffer.active: active,
            }
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
    rows = await query.order_by(PartnerOffer.id)
    if not rows:
        return {}
    left = await OfferCode.raw(
        "SELECT offer_id, COUNT(*) AS n FROM offer_code WHERE redeemed_by IS NULL GROUP BY offer_id"
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
        )
        for row in rows
    }


async def list_offers() -> list[OfferRecord]:
    """Active offers, cheapest first (also those whose pool ran out, shown unavailable)."""
    offers = [offer for offer in (await offers_by_ids()).values() if offer.active]
    return sorted(offers, key=lambda offer: (offer.coin_cost, offer.id))


# Claim the oldest free code. PostgreSQL skips codes another redemption holds; SQLite's
# BEGIN IMMEDIATE already makes this transaction the only writer.
_CLAIM_SQLITE = (
    "UPDATE offer_code SET redeemed_by = {}, redeemed_at = {} WHERE id = ("
    "SELECT id FROM offer_code WHERE offer_id = {} AND redeemed_by IS NULL "
    "ORDER BY id LIMIT 1) AND redeemed_by IS NULL RETURNING id, code"
)
_CLAIM_POSTGRES = (
    "UPDATE offer_code SET redeemed_by = {}, redeemed_at = {} WHERE id = ("
    "SELECT id FROM offer_code WHERE offer_id = {} AND redeemed_by IS NULL "
    "ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) AND redeemed_by IS NULL RETURNING id, code"
)


async def _claim_code(offer_id: int, user_id: int) -> tuple[int, str] | None:
    rows = await OfferCode.raw(
        _CLAIM_SQLITE if is_sqlite() else _CLAIM_POSTGRES,
        user_id,
        utcnow(),
        offer_id,
    )
    return (rows[0]["id"], rows[0]["code"]) if rows else None


async def redeem_offer(
    *, user_id: int, offer_id: int, idempotency_key: str, platform: SpendingSettings
) -> Redeemed:
    ledger.validate_idempotency_key(idempotency_key)

    async def work() -> Redeemed:
        started = await ledger.open_operation(
            OPERATION_KIND,
            user_id=user_id,
            idempotency_key=idempotency_key,
            request={"offer": offer_id},
        )
        if isinstance(started, ledger.Replay):
            return Redeemed(await get_redemption(int(started.result_ref or 0)), replayed=True)
        user = users.require_can_transact(await users.get_user(user_id))
        offer = await PartnerOffer.select().where(PartnerOffer.id == offer_id).first()
        if offer is None or not offer["active"]:
            raise _unavailable()
        claimed = await _claim_code(offer_id, user_id)
        if claimed is None:
            raise _unavailable()
        code_id, code = claimed
        coins = offer["coin_cost"]
        await spending.record_spend(user, coins, platform=platform)
        await ledger.post_transfers(
            started,
            [
                ledger.Leg(
                    TransferKind.REDEMPTION,
                    await ledger.user_account_id(user_id, Currency.COIN),
                    await ledger.system_account_id(AccountCode.PARTNER_REDEMPTIONS),
                    coins,
                    f"{offer['brand']}: {offer['title']}",
                )
            ],
        )
        now = utcnow()
        rows = await Redemption.raw(
            "INSERT INTO redemption (operation_id, offer_id, user_id, code_id, code, coins, "
            "created_at) VALUES ({}, {}, {}, {}, {}, {}, {}) RETURNING id",
            started.id,
            offer_id,
            user_id,
            code_id,
            code,
            coins,
            now,
        )
        await ledger.set_result(started, str(rows[0]["id"]))
        return Redeemed(RedemptionRecord(rows[0]["id"], offer_id, user_id, code, coins, now))

    return await in_transaction(work)


async def get_redemption(redemption_id: int) -> RedemptionRecord:
    row = await Redemption.select().where(Redemption.id == redemption_id).first()
    if row is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such redemption.")
    return RedemptionRecord(
        id=row["id"],
        offer_id=row["offer_id"],
        user_id=row["user_id"],
        code=row["code"],
        coins=row["coins"],
        created_at=as_utc(row["created_at"]),
    )


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

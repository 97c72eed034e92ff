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

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

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


async def create_offer(*, brand: str, title: str, coin_cost: int, active: bool = True) -> int:
    if coin_cost <= 0:
        raise DomainError(ErrorCode.INVALID_INPUT, "An offer costs at least 1 coin.", "coinCost")
    rows = await PartnerOffer.raw(
        "INSERT INTO partner_offer (brand, title, coin_cost, active, created_at) "
        "VALUES ({}, {}, {}, {}, {}) RETURNING id",
        brand.strip(),
        title.strip(),
        coin_cost,
        active,
        utcnow(),
    )
    return rows[0]["id"]


async def set_active(offer_id: int, active: bool) -> None:
    await PartnerOffer.update({PartnerOffer.active: active}).where(PartnerOffer.id == offer_id)


async def add_codes(offer_id: int, codes: Sequence[str]) -> int:
    """Load discount codes into an offer's pool; codes already there are skipped."""

    async def work() -> int:
        added = 0
        for code in dict.fromkeys(c.strip() for c in codes if c.strip()):
            rows = await OfferCode.raw(
                "INSERT INTO offer_code (offer_id, code, created_at) VALUES ({}, {}, {}) "
                "ON CONFLICT DO NOTHING RETURNING id",
                offer_id,
                code,
                utcnow(),
            )
            added += len(rows)
        return added

    return await in_transaction(work)


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

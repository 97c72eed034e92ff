"""Redeeming partner offers: coins for a unique discount code from the offer's pool.

Guarantees
- A redemption is one transaction: a code is claimed from the pool, today's spend counter
  grows (and the limits are checked), the coins move from the user to the partner
  redemptions account (REDEMPTION), and the redemption row and idempotency key are written.
- A code is handed out at most once (claimed by a conditional update, and a unique index
  on ``redemption.code_id``); an empty pool or an inactive offer is OFFER_UNAVAILABLE.
- A user takes at most the offer's ``per_user_limit`` codes (default 1): their count row
  is raised by a conditional update (``... WHERE redeemed < limit``) in the redemption's
  transaction, so concurrent redemptions of one user queue on it and cannot both pass;
  beyond it, OFFER_LIMIT_REACHED.
- Lock order: the user's count row, the claimed code, the spend counter, then the ledger
  accounts by id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from app import ledger
from app.core.clock import as_utc, utcnow
from app.core.database import is_sqlite
from app.core.errors import DomainError, ErrorCode
from app.ledger import AccountCode, Currency, TransferKind
from app.offers.tables import OfferCode, OfferUserRedemption, PartnerOffer, Redemption
from app.settings import SpendingSettings
from app.spending import service as spending
from app.users import service as users

OPERATION_KIND = "REDEEM_OFFER"


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


def _unavailable() -> DomainError:
    return DomainError(ErrorCode.OFFER_UNAVAILABLE, "This offer is not available.", "offerId")


async def _count_against_limit(offer_id: int, user_id: int, limit: int) -> None:
    """Count one more code for the user, or OFFER_LIMIT_REACHED; the row stays locked until
    the transaction ends (rolled back with it when the redemption fails later)."""
    await OfferUserRedemption.raw(
        "INSERT INTO offer_user_redemption (offer_id, user_id, redeemed) VALUES ({}, {}, 0) "
        "ON CONFLICT DO NOTHING",
        offer_id,
        user_id,
    )
    raised = await OfferUserRedemption.raw(
        "UPDATE offer_user_redemption SET redeemed = redeemed + 1 "
        "WHERE offer_id = {} AND user_id = {} AND redeemed < {} RETURNING redeemed",
        offer_id,
        user_id,
        limit,
    )
    if not raised:
        each = "one code" if limit == 1 else f"{limit} codes"
        raise DomainError(
            ErrorCode.OFFER_LIMIT_REACHED,
            f"You have already redeemed this offer: {each} per person.",
            "offerId",
        )


async def redeem_offer(
    *, user_id: int, offer_id: int, idempotency_key: str, platform: SpendingSettings
) -> Redeemed:
    """Spend the offer's coins on its oldest free code, once per idempotency key."""

    async def build(operation: ledger.OpenOperation) -> ledger.Plan[RedemptionRecord]:
        user = users.require_can_transact(await users.get_user(user_id))
        offer = await PartnerOffer.select().where(PartnerOffer.id == offer_id).first()
        if offer is None or not offer["active"]:
            raise _unavailable()
        await _count_against_limit(offer_id, user_id, offer["per_user_limit"])
        claimed = await _claim_code(offer_id, user_id)
        if claimed is None:
            raise _unavailable()
        code_id, code = claimed
        coins = offer["coin_cost"]
        await spending.record_spend(user, coins, platform=platform)
        now = utcnow()
        rows = await Redemption.insert(
            Redemption(
                operation_id=operation.id,
                offer_id=offer_id,
                user_id=user_id,
                code_id=code_id,
                code=code,
                coins=coins,
                created_at=now,
            )
        ).returning(Redemption.id)
        redemption = RedemptionRecord(rows[0]["id"], offer_id, user_id, code, coins, now)
        leg = ledger.Leg(
            TransferKind.REDEMPTION,
            await ledger.user_account_id(user_id, Currency.COIN),
            await ledger.system_account_id(AccountCode.PARTNER_REDEMPTIONS),
            coins,
            f"{offer['brand']}: {offer['title']}",
        )
        return ledger.Plan([leg], str(redemption.id), redemption)

    outcome = await ledger.run_operation(
        OPERATION_KIND,
        user_id=user_id,
        idempotency_key=idempotency_key,
        request={"offer": offer_id},
        build=build,
    )
    if outcome.value is None:
        return Redeemed(await get_redemption(int(outcome.result_ref or 0)), replayed=True)
    return Redeemed(outcome.value)


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

"""Redeeming partner offers: coins for a unique discount code from the offer's pool.

Guarantees
- A redemption is one transaction: a code is claimed from the pool, today's spend counter
  grows (and the limits are checked), the coins move from the user to the partner
  redemptions account (REDEMPTION), and the redemption row and idempotency key are written.
- A code is handed out at most once (claimed by a conditional update, and a unique index
  on ``redemption.code_id``); an empty pool or an inactive offer is OFFER_UNAVAILABLE,
  an offer past its ``expires_at`` (by the service clock) OFFER_EXPIRED.
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
from app.audit import service as audit
from app.audit.service import Actor
from app.core.clock import as_utc, utcnow
from app.core.database import is_sqlite
from app.core.errors import DomainError, ErrorCode
from app.core.paging import Page, cut_page, decode_cursor, encode_cursor
from app.core.transactions import in_transaction
from app.ledger import AccountCode, Currency, TransferKind
from app.offers.catalog import is_expired
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
        if is_expired(offer["expires_at"], utcnow()):
            raise DomainError(ErrorCode.OFFER_EXPIRED, "This offer has expired.", "offerId")
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


def _record(row: dict) -> RedemptionRecord:
    return RedemptionRecord(
        id=row["id"],
        offer_id=row["offer_id"],
        user_id=row["user_id"],
        code=row["code"],
        coins=row["coins"],
        created_at=as_utc(row["created_at"]),
    )


async def get_redemption(redemption_id: int) -> RedemptionRecord:
    row = await Redemption.select().where(Redemption.id == redemption_id).first()
    if row is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such redemption.")
    return _record(row)


async def list_redemptions(
    user_id: int, *, limit: int, before_id: int | None = None
) -> list[RedemptionRecord]:
    """A user's redemptions, newest first, so they can find a code again."""
    query = Redemption.select().where(Redemption.user_id == user_id)
    if before_id is not None:
        query = query.where(Redemption.id < before_id)
    rows = await query.order_by(Redemption.id, ascending=False).limit(limit)
    return [_record(row) for row in rows]


async def page_of_offer_redemptions(
    offer_id: int, *, limit: int, after: str | None = None, before: str | None = None
) -> Page[RedemptionRecord]:
    """An offer's redemptions for staff, newest first, keyset-paged on the redemption id."""
    after_key = decode_cursor(after, 1, "after")
    before_key = decode_cursor(before, 1, "before")
    query = Redemption.select().where(Redemption.offer_id == offer_id)
    if before_key is not None:
        query = query.where(Redemption.id > before_key[0])
    elif after_key is not None:
        query = query.where(Redemption.id < after_key[0])
    rows = await query.order_by(Redemption.id, ascending=before_key is not None).limit(limit + 1)
    return cut_page(
        [_record(row) for row in rows],
        limit=limit,
        cursor_of=lambda redemption: encode_cursor(redemption.id),
        after=after_key,
        before=before_key,
    )


async def reveal_code(offer_id: int, redemption_id: int, *, actor: Actor) -> RedemptionRecord:
    """A redemption's full code for a staff member (a user asking support for it again).

    Codes are worth money at the partner, so staff lists show them masked and each look at
    one is audited (the entry names the redemption, never the code).
    """

    async def work() -> RedemptionRecord:
        redemption = await get_redemption(redemption_id)
        if redemption.offer_id != offer_id:
            raise DomainError(ErrorCode.NOT_FOUND, "No such redemption.")
        await audit.record(
            actor,
            "offer.reveal_code",
            target_type="partner_offer",
            target_id=offer_id,
            after={"redemption": redemption_id, "user": redemption.user_id},
        )
        return redemption

    return await in_transaction(work)

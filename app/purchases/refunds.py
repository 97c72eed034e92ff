"""Refunds and chargebacks: the coins of a refunded purchase are clawed back, once.

Guarantees
- A refund or chargeback claws ``coins + bonus_coins`` back with a REFUND_CLAWBACK transfer,
  even into a negative balance, exactly once per purchase (a conditional status update in
  the clawback's ledger operation).
- The committed clawback is emitted as a ``Clawback`` event: the fraud rules flag a buyer
  whose coins were already spent (REFUND_AFTER_SPEND).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from app import ledger
from app.core.clock import utcnow
from app.core.errors import DomainError, ErrorCode
from app.core.events import emit
from app.core.transactions import RetryTransaction, in_transaction
from app.ledger import AccountCode, Currency, TransferKind
from app.purchases.buying import find_purchase, purchase_record
from app.purchases.codes import Provider, PurchaseStatus
from app.purchases.tables import Purchase

CLAWBACK_OPERATION = "REFUND_CLAWBACK"


@dataclass(frozen=True, slots=True)
class Clawback:
    """A refunded purchase's coins taken back; emitted once it commits."""

    purchase_id: int
    user_id: int
    coins: int
    balance_before: int
    balance_after: int
    reason: str


async def refund_purchase(
    provider: Provider, transaction_id: str, *, reason: str
) -> Clawback | None:
    """Mark the purchase REFUNDED and claw its coins back; None when it already was.

    Runs inside the caller's transaction when there is one (webhook dedupe).
    Raises NOT_FOUND when no purchase has this provider transaction id.
    """
    reason = reason[:64]

    async def work() -> Clawback | None:
        purchase = await find_purchase(provider, transaction_id)
        if purchase is None:
            raise DomainError(ErrorCode.NOT_FOUND, "No purchase for this provider transaction.")
        if purchase.status is PurchaseStatus.REFUNDED:
            return None
        if purchase.status is PurchaseStatus.HELD:
            await _refund_held(purchase.id, reason)
            return None

        async def build(operation: ledger.OpenOperation) -> ledger.Plan[None]:
            # Only the first refund of a purchase finds it COMPLETED. A concurrent refund
            # that committed first makes this one start over, and then see REFUNDED above.
            claimed = (
                await Purchase.update(
                    {
                        Purchase.status: PurchaseStatus.REFUNDED.value,
                        Purchase.refund_operation_id: operation.id,
                        Purchase.refund_reason: reason,
                        Purchase.refunded_at: utcnow(),
                    }
                )
                .where(
                    (Purchase.id == purchase.id)
                    & (Purchase.status == PurchaseStatus.COMPLETED.value)
                )
                .returning(Purchase.id)
            )
            if not claimed:
                raise RetryTransaction("purchase refunded concurrently")
            leg = ledger.Leg(
                TransferKind.REFUND_CLAWBACK,
                await ledger.user_account_id(purchase.user_id, Currency.COIN),
                await ledger.system_account_id(AccountCode.COIN_ISSUANCE, purchase.user_id),
                purchase.total_coins,
                f"Coins taken back: purchase refunded ({reason})",
            )
            return ledger.Plan([leg], str(purchase.id), None)

        outcome = await ledger.run_operation(
            CLAWBACK_OPERATION, user_id=purchase.user_id, build=build
        )
        [posted] = outcome.transfers
        clawback = _clawback(purchase.id, purchase.user_id, posted, reason)
        emit(clawback)
        return clawback

    return await in_transaction(work)


async def _refund_held(purchase_id: int, reason: str) -> None:
    """A held purchase credited nothing: its refund only closes it, no coins move."""
    await Purchase.update(
        {
            Purchase.status: PurchaseStatus.REFUNDED.value,
            Purchase.refund_reason: reason,
            Purchase.refunded_at: utcnow(),
        }
    ).where((Purchase.id == purchase_id) & (Purchase.status == PurchaseStatus.HELD.value))


def _clawback(
    purchase_id: int, user_id: int, posted: ledger.PostedTransfer, reason: str
) -> Clawback:
    return Clawback(
        purchase_id=purchase_id,
        user_id=user_id,
        coins=posted.amount,
        balance_before=posted.debit_balance_after + posted.amount,
        balance_after=posted.debit_balance_after,
        reason=reason,
    )


async def recent_clawbacks(since: datetime) -> list[Clawback]:
    """Clawbacks of purchases refunded since ``since`` (for ``fraud scan``)."""
    rows = (
        await Purchase.select()
        .where((Purchase.refunded_at >= since) & Purchase.refund_operation_id.is_not_null())
        .order_by(Purchase.id)
    )
    found = []
    for row in rows:
        purchase = purchase_record(row)
        for posted in await ledger.transfers_of(row["refund_operation_id"]):
            found.append(_clawback(purchase.id, purchase.user_id, posted, row["refund_reason"]))
    return found

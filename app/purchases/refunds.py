"""Refunds and disputes: a purchase's coins taken back, held, released and given back.

Guarantees
- A purchase's coins are taken back at most once in total, whatever claims the provider
  makes on them (refunds, disputes) and in whatever order its events arrive or repeat:
  coins refunds took, open disputes hold and lost disputes took never add up to more than
  the purchase's coins. (The combinations: ``tests/purchases/test_refund_dispute_combinations``.)
- A refund claws back the coins of the share of the price refunded, rounded down:
  ``target = floor(total_coins * refunded / price)`` from the provider's *cumulative*
  refunded amount, and the clawback is ``target - coins already clawed for refunds``. Several
  partial refunds therefore claw back exactly what one refund of their sum would, never more
  than the purchase's coins, and all of them once the whole price is refunded. Rounding down
  leaves the buyer the fraction of a coin they paid for (at most one coin per purchase).
  It takes the coins no dispute holds first, then held ones (an open dispute then holds
  less): a refund during a dispute is not undone by the dispute's win.
- A dispute (chargeback) holds the disputed coins (the same rule, for the disputed amount,
  at most what refunds and other disputes left) in the DISPUTE_HOLD account: the buyer
  cannot spend them. Won: what it still holds is released to the buyer. Lost: that goes to
  COIN_ISSUANCE for good. A dispute that closes without the opening event seen takes the
  coins straight back (lost) or does nothing (won); one won after it was lost gives its
  coins back, except those a refund claims that could not take them while it was lost.
- A reversed refund (Apple REFUND_REVERSED) gives back every coin refunds clawed back.
- Coins given back (refund reversed, dispute won after it was lost) are less the coins of
  gifts already reversed by the tracing of the loss (``app.fraud.tracing``): those gifts
  stay reversed and their coins came back already; the buyer does not get them twice.
  Coins lost again give them back first (``_settling_reversals``).
- Each movement is one ledger operation, in the caller's transaction (the webhook's dedupe),
  that also updates the purchase with a compare-and-set on its refund and dispute totals
  (and an open dispute's coins with one on them): two concurrent notifications about one
  purchase never both move its coins.
- Taking coins from the buyer may leave a negative balance (``OVERDRAFT_KINDS``).

Events, heard after commit (``app.wiring``):
- ``Clawback``: coins left the buyer's balance (refund, dispute held or lost): the fraud rule
  flags a buyer whose coins were already spent (REFUND_AFTER_SPEND).
- ``PurchaseCoinsLost``: coins of a purchase are gone for good (refund, dispute lost; never
  a dispute's hold, which may be won): the hook for tracing what they paid for.
  ``PurchaseCoinsRestored`` undoes one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from piccolo.columns.combination import Combinable
from piccolo.query.functions.aggregate import Sum

from app import ledger
from app.core.clock import as_utc, utcnow
from app.core.database import is_unique_violation
from app.core.errors import DomainError, ErrorCode
from app.core.events import emit
from app.core.transactions import RetryTransaction, in_transaction
from app.ledger import AccountCode, Currency, TransferKind
from app.ledger.verify import Balances, Breach
from app.purchases.buying import PurchaseRecord, purchase_record
from app.purchases.codes import ClawbackKind, DisputeStatus, Provider, PurchaseStatus
from app.purchases.tables import Dispute, Purchase, PurchaseClawback

CLAWBACK_OPERATION = "REFUND_CLAWBACK"
OPERATION_KINDS = {
    ClawbackKind.REFUND: CLAWBACK_OPERATION,
    ClawbackKind.REFUND_REVERSED: "REFUND_REVERSED",
    ClawbackKind.DISPUTE_HOLD: "DISPUTE_HOLD",
    ClawbackKind.DISPUTE_RELEASED: "DISPUTE_RELEASED",
    ClawbackKind.DISPUTE_LOST: "DISPUTE_LOST",
    ClawbackKind.DISPUTE_REVERSED: "DISPUTE_REVERSED",
}
# Movements that took coins from the buyer's own balance.
_FROM_BUYER = (ClawbackKind.REFUND, ClawbackKind.DISPUTE_HOLD, ClawbackKind.DISPUTE_LOST)
# The records of gift reversals traced to a purchase, and of their coins kept back.
_TRACED = (
    ClawbackKind.GIFTS_REVERSED,
    ClawbackKind.REVERSALS_NETTED,
    ClawbackKind.REVERSALS_UNNETTED,
)
# Movements that took coins of a purchase for good.
_LOSSES = (ClawbackKind.REFUND, ClawbackKind.DISPUTE_LOST)
# An operation's legs, asked for once the purchase is claimed.
Legs = Callable[[ledger.OpenOperation], Awaitable[Sequence[ledger.Leg]]]


@dataclass(frozen=True, slots=True)
class Clawback:
    """Coins taken from a buyer's balance; emitted once it commits."""

    purchase_id: int
    user_id: int
    coins: int
    balance_before: int
    balance_after: int
    reason: str
    # True when they went to DISPUTE_HOLD and come back if the dispute is won.
    held: bool = False


@dataclass(frozen=True, slots=True)
class PurchaseCoinsLost:
    """Coins of a purchase taken back for good (refund, lost dispute); emitted after commit."""

    purchase_id: int
    user_id: int
    coins: int
    reason: str


@dataclass(frozen=True, slots=True)
class PurchaseCoinsRestored:
    """Coins a refund or lost dispute took, given back (refund reversed, dispute won)."""

    purchase_id: int
    user_id: int
    coins: int
    reason: str


@dataclass(frozen=True, slots=True)
class RefundShare:
    """How much of a payment is refunded so far (cumulative), in the provider's units:
    Stripe's ``amount_refunded`` of the charge's ``amount``, Apple's revocation percentage in
    milliunits of 100,000."""

    refunded: int
    of: int

    @property
    def full(self) -> bool:
        return self.refunded >= self.of


def proportional_coins(coins: int, part: int, whole: int) -> int:
    """``floor(coins * part / whole)`` with ``part`` clamped to ``0..whole``."""
    if whole <= 0:
        return coins
    return coins * min(max(part, 0), whole) // whole


@dataclass(frozen=True, slots=True)
class DisputeChange:
    """What a dispute event did: the dispute's status after it and the coins it moved
    (held, released, taken or given back; 0 when none moved)."""

    purchase_id: int
    user_id: int
    dispute_id: str
    status: DisputeStatus
    coins: int
    kind: ClawbackKind | None


# Reading ------------------------------------------------------------------------------


async def _load(provider: Provider, transaction_id: str) -> tuple[PurchaseRecord, int | None]:
    """The purchase (NOT_FOUND when none) and its first refund operation, read afresh."""
    row = (
        await Purchase.select()
        .where(
            (Purchase.provider == provider.value)
            & (Purchase.provider_transaction_id == transaction_id)
        )
        .first()
    )
    if row is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No purchase for this provider transaction.")
    return purchase_record(row), row["refund_operation_id"]


def _room(purchase: PurchaseRecord) -> int:
    """Coins of the purchase neither refunds nor disputes have taken yet."""
    return max(0, purchase.total_coins - purchase.refunded_coins - purchase.disputed_coins)


def _disputed_coins(purchase: PurchaseRecord, amount_minor: int | None) -> int:
    if purchase.status is PurchaseStatus.HELD:
        return 0  # a held purchase credited nothing
    share = (
        purchase.total_coins
        if amount_minor is None
        else proportional_coins(purchase.total_coins, amount_minor, purchase.price.amount_minor)
    )
    return min(share, _room(purchase))


# Writing ------------------------------------------------------------------------------


async def _claim(purchase: PurchaseRecord, changes: Mapping[Any, Any]) -> None:
    """Update the purchase if nothing moved its coins since it was read; else start over."""
    values = dict(changes) or {Purchase.refunded_coins: purchase.refunded_coins}
    claimed = (
        await Purchase.update(values)
        .where(
            (Purchase.id == purchase.id)
            & (Purchase.status == purchase.status.value)
            & (Purchase.refunded_coins == purchase.refunded_coins)
            & (Purchase.disputed_coins == purchase.disputed_coins)
        )
        .returning(Purchase.id)
    )
    if not claimed:
        raise RetryTransaction("purchase refunded or disputed concurrently")


async def _move(
    purchase: PurchaseRecord,
    kind: ClawbackKind,
    legs: Legs,
    *,
    coins: int,
    reason: str,
    changes: Mapping[Any, Any],
    dispute_write: Any = None,
) -> tuple[int, list[ledger.PostedTransfer]]:
    """One ledger operation: the purchase's compare-and-set, the dispute row (when given),
    the history row, then ``legs`` (asked once the purchase is claimed: what they read is
    then current). Returns the operation id and its transfers."""

    async def build(operation: ledger.OpenOperation) -> ledger.Plan[None]:
        await _claim(purchase, changes)
        if dispute_write is not None:
            await dispute_write()
        await _history(purchase, kind, coins, operation.id, reason)
        return ledger.Plan(await legs(operation), str(purchase.id), None)

    outcome = await ledger.run_operation(
        OPERATION_KINDS[kind], user_id=purchase.user_id, build=build
    )
    return outcome.operation_id, list(outcome.transfers)


async def _history(
    purchase: PurchaseRecord, kind: ClawbackKind, coins: int, operation_id: int, reason: str
) -> None:
    await PurchaseClawback.insert(
        PurchaseClawback(
            purchase_id=purchase.id,
            user_id=purchase.user_id,
            kind=kind.value,
            coins=coins,
            operation_id=operation_id,
            reason=reason,
            created_at=utcnow(),
        )
    )


def _legs(*legs: ledger.Leg) -> Legs:
    """Fixed legs, leaving out those of no coins."""

    async def fixed(_: ledger.OpenOperation) -> Sequence[ledger.Leg]:
        return [leg for leg in legs if leg.amount > 0]

    return fixed


def _settling_reversals(
    purchase: PurchaseRecord,
    reason: str,
    *legs: ledger.Leg,
    restored: int = 0,
    restored_as: str = "",
) -> Legs:
    """The legs of a movement that changes the coins the purchase has lost: ``legs``, after
    the coins of gift reversals traced to the purchase (``app.fraud.tracing``) are settled.

    Those reversals stand: their coins came back to the buyer (towards a clawback's debt)
    and the gifts stay undone. Once the coins still lost no longer cover them (a refund
    reversed, a lost dispute won), the ``restored`` coins are given back less theirs, kept
    back ("netted"): the buyer does not get them twice. Coins lost again cover them again:
    what was kept back is given back first. Asked once the purchase is claimed, so what
    the tracing recorded is current (``reverse_traced_gift``)."""

    async def settled(operation: ledger.OpenOperation) -> Sequence[ledger.Leg]:
        user_account, issuance, _ = await _accounts(purchase)
        reversed_, netted = await _traced(purchase.id)
        uncovered = max(0, reversed_ - await lost_coins(purchase.id))
        out: list[ledger.Leg] = []
        if netted > uncovered:
            back = netted - uncovered
            await _history(purchase, ClawbackKind.REVERSALS_UNNETTED, back, operation.id, reason)
            out.append(
                ledger.Leg(
                    TransferKind.CLAWBACK_REVERSED,
                    issuance,
                    user_account,
                    back,
                    f"Coins of reversed gifts, kept back before, given back: lost again ({reason})",
                )
            )
        kept = min(restored, max(0, uncovered - netted))
        if kept:
            await _history(purchase, ClawbackKind.REVERSALS_NETTED, kept, operation.id, reason)
        if restored > kept:
            out.append(
                ledger.Leg(
                    TransferKind.CLAWBACK_REVERSED,
                    issuance,
                    user_account,
                    restored - kept,
                    restored_as,
                )
            )
        return out + [leg for leg in legs if leg.amount > 0]

    return settled


def _from_balance(
    posted: Sequence[ledger.PostedTransfer], user_account: int
) -> ledger.PostedTransfer | None:
    """The transfer that took coins from the buyer's balance, if one did."""
    return next((t for t in posted if t.debit_account_id == user_account), None)


async def _accounts(purchase: PurchaseRecord) -> tuple[int, int, int]:
    """The buyer's coin account, their COIN_ISSUANCE shard and DISPUTE_HOLD."""
    return (
        await ledger.user_account_id(purchase.user_id, Currency.COIN),
        await ledger.system_account_id(AccountCode.COIN_ISSUANCE, purchase.user_id),
        await ledger.system_account_id(AccountCode.DISPUTE_HOLD),
    )


def _clawback(
    purchase_id: int, user_id: int, posted: ledger.PostedTransfer, reason: str, *, held: bool
) -> Clawback:
    return Clawback(
        purchase_id=purchase_id,
        user_id=user_id,
        coins=posted.amount,
        balance_before=posted.debit_balance_after + posted.amount,
        balance_after=posted.debit_balance_after,
        reason=reason,
        held=held,
    )


# Refunds ------------------------------------------------------------------------------


async def refund_purchase(
    provider: Provider,
    transaction_id: str,
    *,
    reason: str,
    share: RefundShare | None = None,
) -> Clawback | None:
    """Claw back the coins of the refunded share (all of them without ``share``): first
    those no dispute holds, then, when those are not enough, the held ones (the disputes
    then hold less). None when no coins leave the buyer's balance (already clawed back, a
    held purchase, a share that rounds to no more, or only held coins taken).

    A full refund marks the purchase REFUNDED. Runs inside the caller's transaction when
    there is one (webhook dedupe). Raises NOT_FOUND when no purchase has this provider
    transaction id. The returned ``Clawback.coins`` are the coins taken from the balance.
    """
    reason = reason[:64]
    full = share is None or share.full

    async def work() -> Clawback | None:
        purchase, first_refund = await _load(provider, transaction_id)
        if purchase.status is PurchaseStatus.REFUNDED:
            return None
        if purchase.status is PurchaseStatus.HELD:
            if full:
                await _refund_held(purchase.id, reason)
            return None
        total, price = purchase.total_coins, purchase.price.amount_minor
        if share is None or full:
            target, refunded_minor = total, price
        else:
            target = proportional_coins(total, share.refunded, share.of)
            refunded_minor = proportional_coins(price, share.refunded, share.of)
        target = max(target, purchase.refunded_coins)  # a stale, smaller figure takes nothing
        wanted = target - purchase.refunded_coins
        from_buyer = min(wanted, _room(purchase))
        from_disputes = await _take_from_holds(purchase.id, wanted - from_buyer)
        from_hold = sum(coins for _, coins in from_disputes)
        coins = from_buyer + from_hold
        changes: dict[Any, Any] = {
            Purchase.refunded_minor: max(refunded_minor, purchase.refunded_minor),
            Purchase.refunded_coins: purchase.refunded_coins + coins,
            Purchase.disputed_coins: purchase.disputed_coins - from_hold,
        }
        if full:
            changes |= {
                Purchase.status: PurchaseStatus.REFUNDED.value,
                Purchase.refund_reason: reason,
                Purchase.refunded_at: utcnow(),
            }
        if coins <= 0:
            await _claim(purchase, changes)
            return None

        async def take_held() -> None:
            for row, taken in from_disputes:
                await _set_dispute_coins(row, row["coins"] - taken)

        user_account, issuance, hold = await _accounts(purchase)
        description = (
            f"Coins taken back: purchase {'refunded' if full else 'partly refunded'} ({reason})"
        )
        operation_id, posted = await _move(
            purchase,
            ClawbackKind.REFUND,
            _settling_reversals(
                purchase,
                reason,
                ledger.Leg(
                    TransferKind.REFUND_CLAWBACK, user_account, issuance, from_buyer, description
                ),
                ledger.Leg(
                    TransferKind.REFUND_CLAWBACK,
                    hold,
                    issuance,
                    from_hold,
                    f"{description}, from a dispute's hold",
                ),
            ),
            coins=coins,
            reason=reason,
            changes=changes,
            dispute_write=take_held,
        )
        if first_refund is None:
            # Kept for readers of the first version: the first refund's operation.
            await Purchase.update({Purchase.refund_operation_id: operation_id}).where(
                Purchase.id == purchase.id
            )
        emit(PurchaseCoinsLost(purchase.id, purchase.user_id, coins, reason))
        taken = _from_balance(posted, user_account)
        if taken is None:
            return None  # the coins had left the balance already, into the hold
        clawback = _clawback(purchase.id, purchase.user_id, taken, reason, held=False)
        emit(clawback)
        return clawback

    return await in_transaction(work)


async def _take_from_holds(purchase_id: int, coins: int) -> list[tuple[dict[str, Any], int]]:
    """Up to ``coins`` from the purchase's open disputes' holds, oldest dispute first: each
    dispute row with the coins to take from it."""
    if coins <= 0:
        return []
    rows = (
        await Dispute.select()
        .where(
            (Dispute.purchase_id == purchase_id)
            & (Dispute.status == DisputeStatus.OPEN.value)
            & (Dispute.coins > 0)
        )
        .order_by(Dispute.id)
    )
    taken = []
    for row in rows:
        take = min(coins, row["coins"])
        if take <= 0:
            break
        taken.append((row, take))
        coins -= take
    return taken


async def _refund_held(purchase_id: int, reason: str) -> None:
    """A held purchase credited nothing: its refund only closes it, no coins move."""
    await Purchase.update(
        {
            Purchase.status: PurchaseStatus.REFUNDED.value,
            Purchase.refund_reason: reason,
            Purchase.refunded_at: utcnow(),
        }
    ).where((Purchase.id == purchase_id) & (Purchase.status == PurchaseStatus.HELD.value))


async def reverse_refund(provider: Provider, transaction_id: str, *, reason: str) -> int:
    """Give back every coin refunds clawed back (Apple REFUND_REVERSED), less the coins
    gift reversals traced to them already gave back (``_settling_reversals``): the coins
    given, 0 when there were none (a second reversal, a held purchase)."""
    reason = reason[:64]

    async def work() -> int:
        purchase, _ = await _load(provider, transaction_id)
        coins = purchase.refunded_coins
        if coins <= 0:
            return 0
        status = (
            PurchaseStatus.COMPLETED
            if purchase.status is PurchaseStatus.REFUNDED
            else purchase.status
        )
        _, posted = await _move(
            purchase,
            ClawbackKind.REFUND_REVERSED,
            _settling_reversals(
                purchase,
                reason,
                restored=coins,
                restored_as=f"Coins given back: refund reversed ({reason})",
            ),
            coins=coins,
            reason=reason,
            changes={
                Purchase.status: status.value,
                Purchase.refunded_coins: 0,
                Purchase.refunded_minor: 0,
                Purchase.refunded_at: None,
            },
        )
        emit(PurchaseCoinsRestored(purchase.id, purchase.user_id, coins, reason))
        return sum(transfer.amount for transfer in posted)

    return await in_transaction(work)


# Disputes -----------------------------------------------------------------------------


async def _find_dispute(provider: Provider, dispute_id: str) -> dict[str, Any] | None:
    return (
        await Dispute.select()
        .where((Dispute.provider == provider.value) & (Dispute.dispute_id == dispute_id))
        .first()
    )


async def _insert_dispute(
    purchase: PurchaseRecord,
    provider: Provider,
    dispute_id: str,
    status: DisputeStatus,
    amount_minor: int | None,
    coins: int,
) -> None:
    now = utcnow()
    try:
        await Dispute.insert(
            Dispute(
                purchase_id=purchase.id,
                provider=provider.value,
                dispute_id=dispute_id,
                status=status.value,
                amount_minor=purchase.price.amount_minor if amount_minor is None else amount_minor,
                coins=coins,
                opened_at=now if status is DisputeStatus.OPEN else None,
                closed_at=None if status is DisputeStatus.OPEN else now,
            )
        )
    except Exception as error:
        if is_unique_violation(error):
            raise RetryTransaction("dispute recorded concurrently") from error
        raise


async def _set_dispute(row: dict[str, Any], status: DisputeStatus, coins: int) -> None:
    """Move a dispute on from the status it was read in; else start over."""
    moved = (
        await Dispute.update(
            {Dispute.status: status.value, Dispute.coins: coins, Dispute.closed_at: utcnow()}
        )
        .where((Dispute.id == row["id"]) & (Dispute.status == row["status"]))
        .returning(Dispute.id)
    )
    if not moved:
        raise RetryTransaction("dispute closed concurrently")


async def _set_dispute_coins(row: dict[str, Any], coins: int) -> None:
    """An open dispute holds fewer coins (a refund took some); else start over."""
    moved = (
        await Dispute.update({Dispute.coins: coins})
        .where(
            (Dispute.id == row["id"])
            & (Dispute.status == DisputeStatus.OPEN.value)
            & (Dispute.coins == row["coins"])
        )
        .returning(Dispute.id)
    )
    if not moved:
        raise RetryTransaction("dispute moved concurrently")


async def open_dispute(
    provider: Provider,
    transaction_id: str,
    dispute_id: str,
    *,
    amount_minor: int | None = None,
    reason: str = "chargeback",
) -> DisputeChange | None:
    """Hold the disputed coins (all, or the disputed amount's share) in DISPUTE_HOLD; None
    when this dispute is known already (opened, or closed before its opening arrived)."""
    reason = reason[:64]
    dispute_id = dispute_id[:255]

    async def work() -> DisputeChange | None:
        purchase, _ = await _load(provider, transaction_id)
        if await _find_dispute(provider, dispute_id) is not None:
            return None
        coins = _disputed_coins(purchase, amount_minor)

        async def record() -> None:
            await _insert_dispute(
                purchase, provider, dispute_id, DisputeStatus.OPEN, amount_minor, coins
            )

        change = DisputeChange(
            purchase.id,
            purchase.user_id,
            dispute_id,
            DisputeStatus.OPEN,
            coins,
            ClawbackKind.DISPUTE_HOLD if coins else None,
        )
        if coins == 0:
            await _claim(purchase, {})
            await record()
            return change
        user_account, _, hold = await _accounts(purchase)
        _, [posted] = await _move(
            purchase,
            ClawbackKind.DISPUTE_HOLD,
            _legs(
                ledger.Leg(
                    TransferKind.DISPUTE_HOLD,
                    user_account,
                    hold,
                    coins,
                    f"Coins held: payment disputed ({reason})",
                )
            ),
            coins=coins,
            reason=reason,
            changes={Purchase.disputed_coins: purchase.disputed_coins + coins},
            dispute_write=record,
        )
        emit(_clawback(purchase.id, purchase.user_id, posted, reason, held=True))
        return change

    return await in_transaction(work)


async def close_dispute(
    provider: Provider,
    transaction_id: str,
    dispute_id: str,
    *,
    won: bool,
    amount_minor: int | None = None,
    reason: str = "chargeback",
) -> DisputeChange | None:
    """Won: release what the dispute still holds (or give back coins a lost dispute took,
    less what a standing refund claims). Lost: the held coins go for good (or, with no
    opening seen, are taken from the buyer now). None when the dispute already ended this
    way."""
    reason = reason[:64]
    dispute_id = dispute_id[:255]
    outcome = DisputeStatus.WON if won else DisputeStatus.LOST

    async def work() -> DisputeChange | None:
        purchase, _ = await _load(provider, transaction_id)
        row = await _find_dispute(provider, dispute_id)
        status = DisputeStatus(row["status"]) if row is not None else None
        if status is outcome:
            return None
        user_account, issuance, hold = await _accounts(purchase)

        def change(coins: int, kind: ClawbackKind | None) -> DisputeChange:
            return DisputeChange(
                purchase.id, purchase.user_id, dispute_id, outcome, coins if kind else 0, kind
            )

        if won:
            if row is None:  # won before its opening arrived: nothing was held
                await _claim(purchase, {})
                await _insert_dispute(purchase, provider, dispute_id, outcome, amount_minor, 0)
                return change(0, None)
            if status is DisputeStatus.OPEN:
                return await _release(purchase, row, reason, user_account, hold, change)
            return await _reinstate(purchase, row, reason, user_account, issuance, change)

        # Lost.
        if status is DisputeStatus.OPEN:
            assert row is not None
            coins = row["coins"]

            async def settle_lost() -> None:
                await _set_dispute(row, outcome, coins)

            if coins == 0:
                await _claim(purchase, {})
                await settle_lost()
                return change(0, None)
            await _move(
                purchase,
                ClawbackKind.DISPUTE_LOST,
                _settling_reversals(
                    purchase,
                    reason,
                    ledger.Leg(
                        TransferKind.REFUND_CLAWBACK,
                        hold,
                        issuance,
                        coins,
                        f"Coins taken back: dispute lost ({reason})",
                    ),
                ),
                coins=coins,
                reason=reason,
                changes={},
                dispute_write=settle_lost,
            )
            emit(PurchaseCoinsLost(purchase.id, purchase.user_id, coins, reason))
            return change(coins, ClawbackKind.DISPUTE_LOST)

        # Lost with nothing held: never opened here, or won before and lost after all.
        coins = _disputed_coins(purchase, row["amount_minor"] if row else amount_minor)

        async def record_lost() -> None:
            if row is None:
                await _insert_dispute(purchase, provider, dispute_id, outcome, amount_minor, coins)
            else:
                await _set_dispute(row, outcome, coins)

        if coins == 0:
            await _claim(purchase, {})
            await record_lost()
            return change(0, None)
        _, posted = await _move(
            purchase,
            ClawbackKind.DISPUTE_LOST,
            _settling_reversals(
                purchase,
                reason,
                ledger.Leg(
                    TransferKind.REFUND_CLAWBACK,
                    user_account,
                    issuance,
                    coins,
                    f"Coins taken back: dispute lost ({reason})",
                ),
            ),
            coins=coins,
            reason=reason,
            changes={Purchase.disputed_coins: purchase.disputed_coins + coins},
            dispute_write=record_lost,
        )
        taken = _from_balance(posted, user_account)
        assert taken is not None
        emit(_clawback(purchase.id, purchase.user_id, taken, reason, held=False))
        emit(PurchaseCoinsLost(purchase.id, purchase.user_id, coins, reason))
        return change(coins, ClawbackKind.DISPUTE_LOST)

    return await in_transaction(work)


async def _release(
    purchase: PurchaseRecord,
    row: dict[str, Any],
    reason: str,
    user_account: int,
    hold: int,
    change: Callable[[int, ClawbackKind | None], DisputeChange],
) -> DisputeChange:
    """An open dispute won: what it still holds goes back to the buyer (refunds taken from
    its hold meanwhile are not given back)."""
    coins = row["coins"]

    async def settle_won() -> None:
        await _set_dispute(row, DisputeStatus.WON, coins)

    if coins == 0:
        await _claim(purchase, {})
        await settle_won()
        return change(0, None)
    await _move(
        purchase,
        ClawbackKind.DISPUTE_RELEASED,
        _legs(
            ledger.Leg(
                TransferKind.DISPUTE_RELEASED,
                hold,
                user_account,
                coins,
                f"Coins given back: dispute won ({reason})",
            )
        ),
        coins=coins,
        reason=reason,
        changes={Purchase.disputed_coins: max(0, purchase.disputed_coins - coins)},
        dispute_write=settle_won,
    )
    return change(coins, ClawbackKind.DISPUTE_RELEASED)


async def _reinstate(
    purchase: PurchaseRecord,
    row: dict[str, Any],
    reason: str,
    user_account: int,
    issuance: int,
    change: Callable[[int, ClawbackKind | None], DisputeChange],
) -> DisputeChange:
    """A lost dispute won after all: its coins are no longer lost to it. A refund that could
    not take all it claims (the dispute had them) keeps them now; the rest goes back to the
    buyer, less the traced gift reversals they no longer cover (``_settling_reversals``)."""
    coins = row["coins"]
    kept = min(coins, max(0, _refund_target(purchase) - purchase.refunded_coins))

    async def settle_won() -> None:
        await _set_dispute(row, DisputeStatus.WON, coins)

    changes = {
        Purchase.disputed_coins: max(0, purchase.disputed_coins - coins),
        Purchase.refunded_coins: purchase.refunded_coins + kept,
    }
    if coins - kept <= 0:
        await _claim(purchase, changes)
        await settle_won()
        return change(0, None)
    await _move(
        purchase,
        ClawbackKind.DISPUTE_REVERSED,
        _settling_reversals(
            purchase,
            reason,
            restored=coins - kept,
            restored_as=f"Coins given back: dispute won ({reason})",
        ),
        coins=coins - kept,
        reason=reason,
        changes=changes,
        dispute_write=settle_won,
    )
    emit(PurchaseCoinsRestored(purchase.id, purchase.user_id, coins - kept, reason))
    return change(coins - kept, ClawbackKind.DISPUTE_REVERSED)


def _refund_target(purchase: PurchaseRecord) -> int:
    """The coins the refunds so far claim: all of them once REFUNDED, else the refunded
    money's share (from the stored amount: it may round a coin below the refund's own)."""
    if purchase.status is PurchaseStatus.REFUNDED:
        return purchase.total_coins
    return proportional_coins(
        purchase.total_coins, purchase.refunded_minor, purchase.price.amount_minor
    )


# Coins lost for good and the gifts they paid for ---------------------------------------


async def lost_coins(purchase_id: int) -> int:
    """The purchase's coins taken for good now: by refunds and by lost disputes (coins an
    open dispute holds are not lost yet)."""
    purchase = await Purchase.select(Purchase.refunded_coins).where(Purchase.id == purchase_id)
    lost = await (
        Dispute.select(Sum(Dispute.coins).as_alias("coins"))
        .where((Dispute.purchase_id == purchase_id) & (Dispute.status == DisputeStatus.LOST.value))
        .first()
    )
    refunded = int(purchase[0]["refunded_coins"]) if purchase else 0
    return refunded + int((lost or {}).get("coins") or 0)


async def _traced(purchase_id: int) -> tuple[int, int]:
    """Coins gift reversals traced to this purchase gave back to the buyer, and those of
    them reinstatements kept back (less what was given back when coins were lost again)."""
    rows = await (
        PurchaseClawback.select(PurchaseClawback.kind, Sum(PurchaseClawback.coins).as_alias("c"))
        .where(
            (PurchaseClawback.purchase_id == purchase_id)
            & PurchaseClawback.kind.is_in([kind.value for kind in _TRACED])
        )
        .group_by(PurchaseClawback.kind)
    )
    found = {row["kind"]: int(row["c"] or 0) for row in rows}
    return found.get(ClawbackKind.GIFTS_REVERSED.value, 0), found.get(
        ClawbackKind.REVERSALS_NETTED.value, 0
    ) - found.get(ClawbackKind.REVERSALS_UNNETTED.value, 0)


async def reverse_traced_gift(
    purchase_id: int, coins: int, reverse: Callable[[], Awaitable[int]], *, reason: str
) -> int:
    """Run ``reverse`` (a gift reversal paid for with this purchase's lost coins, giving
    ``coins`` back to the buyer; returns its ledger operation) and record it, in one
    transaction, while the purchase still has lost coins no recorded reversal covers:
    a reinstatement nets the coins it finds recorded (``_settling_reversals``), and none can come
    in between. Raises INVALID_INPUT (nothing reversed) once nothing is left to cover."""

    async def work() -> int:
        row = await Purchase.select().where(Purchase.id == purchase_id).first()
        if row is None:
            raise DomainError(ErrorCode.NOT_FOUND, "No such purchase.")
        purchase = purchase_record(row)
        await _claim(purchase, {})  # locks the purchase against a reinstatement
        reversed_, netted = await _traced(purchase_id)
        if reversed_ - netted >= await lost_coins(purchase_id):
            raise DomainError(
                ErrorCode.INVALID_INPUT, "The purchase's lost coins are covered already."
            )
        operation_id = await reverse()
        await _history(purchase, ClawbackKind.GIFTS_REVERSED, coins, operation_id, reason[:64])
        return operation_id

    return await in_transaction(work)


# Reads for other domains --------------------------------------------------------------


async def recent_clawbacks(since: datetime) -> list[Clawback]:
    """Coins taken from buyers' balances since ``since`` (for ``fraud scan``)."""
    rows = (
        await PurchaseClawback.select()
        .where(
            (PurchaseClawback.created_at >= since)
            & PurchaseClawback.kind.is_in([kind.value for kind in _FROM_BUYER])
        )
        .order_by(PurchaseClawback.id)
    )
    found = []
    for row in rows:
        account = await ledger.user_account_id(row["user_id"], Currency.COIN)
        for posted in await ledger.transfers_of(row["operation_id"]):
            if posted.debit_account_id == account:
                held = row["kind"] == ClawbackKind.DISPUTE_HOLD
                found.append(
                    _clawback(row["purchase_id"], row["user_id"], posted, row["reason"], held=held)
                )
    return found


async def recent_losses(since: datetime) -> list[int]:
    """Purchases whose coins were taken for good since ``since`` (refund, dispute lost),
    oldest first, for ``fraud scan`` to trace again."""
    rows = (
        await PurchaseClawback.select(PurchaseClawback.purchase_id)
        .where(
            (PurchaseClawback.created_at >= since)
            & PurchaseClawback.kind.is_in([kind.value for kind in _LOSSES])
        )
        .order_by(PurchaseClawback.id)
    )
    return list(dict.fromkeys(row["purchase_id"] for row in rows))


async def dispute_hold_total() -> int:
    """Coins the OPEN disputes hold: what DISPUTE_HOLD must hold."""
    row = await (
        Dispute.select(Sum(Dispute.coins).as_alias("coins"))
        .where(Dispute.status == DisputeStatus.OPEN.value)
        .first()
    )
    return int(row["coins"] or 0) if row else 0


async def buyers_with_disputes(user_ids: Sequence[int], which: Combinable) -> set[int]:
    """Which of these buyers have a purchase with a dispute matching ``which``: one query,
    bounded by the buyers' own purchases."""
    if not user_ids:
        return set()
    disputed = Dispute.select(Dispute.purchase_id).where(which)
    rows = (
        await Purchase.select(Purchase.user_id)
        .where(Purchase.user_id.is_in(sorted(set(user_ids))) & Purchase.id.is_in(disputed))
        .distinct()
    )
    return {row["user_id"] for row in rows}


async def dispute_hold_matches_ledger(balances: Balances) -> list[Breach]:
    """The DISPUTE_HOLD balance equals the coins every OPEN dispute holds."""
    in_ledger = balances.system(AccountCode.DISPUTE_HOLD)
    in_disputes = await dispute_hold_total()
    if in_ledger == in_disputes:
        return []
    return [
        Breach(
            "dispute-hold",
            f"DISPUTE_HOLD holds {in_ledger} coins but open disputes hold {in_disputes}",
        )
    ]


async def clawback_history(purchase_id: int) -> list[dict[str, Any]]:
    """A purchase's refund and dispute movements, oldest first."""
    rows = (
        await PurchaseClawback.select()
        .where(PurchaseClawback.purchase_id == purchase_id)
        .order_by(PurchaseClawback.id)
    )
    return [row | {"created_at": as_utc(row["created_at"])} for row in rows]

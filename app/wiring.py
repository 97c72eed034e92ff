"""Who hears what after a commit: the one place the after-commit subscribers are wired.

Lower packages emit events without knowing who listens (``app.core.events``): gifts do not
import the live feed or the fraud rules, payouts and purchases do not import fraud. Here,
at the top, the app subscribes them, in this order:

- ``GiftSent``: the settler wakes to credit the host; the live feed takes the gift (it only
  queues it: a hung Redis never reaches the answer) and the fraud rules check sender and
  host after the response (the app's background; the rules take the gifts in batches:
  whatever arrived within ``COINS_FRAUD_GIFT_BATCH_MS`` of the first, or while the last
  batch ran).
- ``PayoutRequested``: the concentration rule first, then auto-approval, which leaves a
  creator with an open flag (perhaps the one just raised), or gifted by a buyer with a
  refunded or contested purchase, for staff (``app.fraud.tracing.creator_cleared``).
- ``Clawback``: the refund-after-spend rule.
- ``PurchaseCoinsLost``: the tracing of the purchase's lost coins to the gifts they paid
  for (``app.fraud.tracing.trace_refunded_coins``: still-maturing gifts reversed, their
  creators flagged), in transactions of their own after the loss commits. Not on a
  dispute's hold: the coins are not lost until the dispute is.
- ``PaymentAmountMismatch``: a web checkout paid with another amount is flagged.
- ``AccountFrozen``: the frozen user's live streams end (gifts to a frozen host are
  refused from the freeze's commit on, by the gift path itself).
- Metrics count gifts, coins sold and payouts by status (``app.observability.metrics``).
"""

from __future__ import annotations

from collections.abc import Callable

from app.core.background import Background, Batched
from app.core.events import bus
from app.fraud import rules as fraud_rules
from app.fraud import tracing as fraud_tracing
from app.gifts.queries import encode_event
from app.gifts.service import GiftSent
from app.gifts.settlement import Settler
from app.observability import metrics
from app.payouts import service as payouts
from app.payouts.provider import provider_if_configured
from app.purchases.checkout import PaymentAmountMismatch
from app.purchases.refunds import Clawback, PurchaseCoinsLost
from app.settings import Settings
from app.streams import service as streams
from app.streams.feed import GiftFeed
from app.users.service import AccountFrozen


async def _end_streams(event: AccountFrozen) -> None:
    await streams.end_streams_of_host(event.user_id)


def subscribe(
    settings: Settings,
    feed: GiftFeed | None = None,
    settler: Settler | None = None,
    background: Background | None = None,
) -> Callable[[], None]:
    """Register every subscriber for ``settings``; returns the function that removes them.

    With ``background`` (the app's), the gift's fraud rules run after the response instead
    of before it; without (tests, scripts), right after the commit. The feed never waits."""

    async def publish_gift(event: GiftSent) -> None:
        assert feed is not None
        feed.publish(event.event.stream_id, encode_event(event.event))

    async def check_gifts(gifts: list[fraud_rules.GiftToCheck]) -> None:
        await fraud_rules.after_gifts(gifts, settings.fraud)

    gift_checks = (
        Batched(background, check_gifts, gather_s=settings.fraud.gift_batch_ms / 1000)
        if background is not None
        else None
    )

    async def check_gift(event: GiftSent) -> None:
        gift = fraud_rules.GiftToCheck(
            event.event.sender_id, event.event.host_id, event.sender_created_at
        )
        if gift_checks is None:
            await check_gifts([gift])
        else:
            gift_checks.add(gift)

    async def review_payout(event: payouts.PayoutRequested) -> None:
        await fraud_rules.after_payout_request(event.creator_id, event.payout_id, settings.fraud)
        provider = provider_if_configured(settings)
        if provider is not None:
            await payouts.auto_approve(
                event.payout_id, settings.payouts, provider, cleared=creator_cleared
            )

    async def creator_cleared(creator_id: int) -> bool:
        return await fraud_tracing.creator_cleared(creator_id, settings.fraud)

    async def trace_loss(event: PurchaseCoinsLost) -> None:
        days = settings.economy.earnings_maturation_days
        await fraud_tracing.trace_refunded_coins(event.purchase_id, maturation_days=days)

    unsubscribers = [
        bus.subscribe(GiftSent, check_gift, name="fraud.gift"),
        bus.subscribe(payouts.PayoutRequested, review_payout, name="payouts.review"),
        bus.subscribe(Clawback, fraud_rules.after_clawback, name="fraud.clawback"),
        bus.subscribe(
            PaymentAmountMismatch, fraud_rules.after_amount_mismatch, name="fraud.amount_mismatch"
        ),
        bus.subscribe(PurchaseCoinsLost, trace_loss, name="fraud.trace_loss"),
        bus.subscribe(AccountFrozen, _end_streams, name="streams.frozen"),
        metrics.subscribe(),
    ]
    if feed is not None:
        unsubscribers.insert(0, bus.subscribe(GiftSent, publish_gift, name="feed"))
    if settler is not None:
        unsubscribers.insert(0, bus.subscribe(GiftSent, settler.wake, name="settler"))

    def unsubscribe() -> None:
        for remove in unsubscribers:
            remove()

    return unsubscribe

"""The object graph clients walk: users, live streams, gifts and the gift events between them.

These types point at each other (a stream's host is a user and a user's current stream
is a stream; a gift event belongs to a stream that lists its recent gift events), so
they live in one module: split by domain they imported each other. The operations on
them (queries, mutations, inputs, payloads) stay in each domain's module, which imports
this one; this one imports only the types below it (wallet, purchases, payouts, spending,
offers).
"""

from __future__ import annotations

from datetime import datetime

import strawberry

from app.core.clock import utcnow
from app.gifts import details as gift_details
from app.gifts.catalog import GiftRecord
from app.gifts.queries import GiftEventRecord
from app.graphql import ids
from app.graphql.context import CoinsInfo
from app.graphql.fanout import SharedRenders
from app.graphql.pagination import Connection, check_page_size
from app.graphql.types.offers import Redemption, redemptions_of
from app.graphql.types.payouts import CreatorEarnings, Payout, earnings_of, payouts_of
from app.graphql.types.purchases import CoinPurchase, purchases_of
from app.graphql.types.spending import PurchaseAllowance, SpendingSummary
from app.graphql.types.statements import CreatorStatement
from app.graphql.types.wallet import Wallet
from app.payouts.statements import creator_statement
from app.purchases import limits as purchase_limits
from app.purchases.app_account import app_account_token
from app.streams.goals import GoalKind, GoalRecord
from app.streams.service import StreamRecord, StreamStatus
from app.users.service import UserRecord

LiveStreamStatus = strawberry.enum(StreamStatus, name="LiveStreamStatus")
StreamGoalKind = strawberry.enum(
    GoalKind, name="StreamGoalKind", description="GIFT: a count of one gift; COINS: coins."
)
GiftAnimationKind = strawberry.enum(
    gift_details.AnimationKind,
    name="GiftAnimationKind",
    description="The player an app needs for a gift's animation asset.",
)
GiftAvailabilityKind = strawberry.enum(
    gift_details.AvailabilityKind,
    name="GiftAvailabilityKind",
    description="Why a gift has an availability window: PERMANENT gifts have none.",
)

MAX_LEADERBOARD = 100


async def is_viewer(info: CoinsInfo, user_id: int) -> bool:
    return await info.context.viewer_is(user_id)


@strawberry.type
class User:
    record: strawberry.Private[UserRecord]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return ids.USER.encode(self.record.id)

    @strawberry.field
    def handle(self) -> str:
        return self.record.handle

    @strawberry.field
    def display_name(self) -> str:
        return self.record.display_name

    @strawberry.field(
        description="True when the user is 18 or older: only adults may buy coins, send gifts, "
        "go live or cash out."
    )
    def is_adult(self) -> bool:
        return self.record.is_adult

    @strawberry.field
    def show_on_leaderboards(self) -> bool:
        return self.record.show_on_leaderboards

    @strawberry.field(
        description="Set it as the appAccountToken of every App Store purchase, and as the "
        "obfuscatedAccountId (BillingFlowParams) of every Google Play purchase: a purchase "
        "without it, or with another user's, does not redeem. Visible to the user only; "
        "null on other users."
    )
    async def app_account_token(self, info: CoinsInfo) -> str | None:
        if not await is_viewer(info, self.record.id):
            return None
        return str(app_account_token(self.record.id))

    @strawberry.field(description="Visible to the user only; null on other users.")
    async def wallet(self, info: CoinsInfo) -> Wallet | None:
        return Wallet(user_id=self.record.id) if await is_viewer(info, self.record.id) else None

    @strawberry.field(description="Coin purchases, newest first. Visible to the user only.")
    async def purchases(
        self, info: CoinsInfo, first: int = 20, after: str | None = None
    ) -> Connection[CoinPurchase] | None:
        if not await is_viewer(info, self.record.id):
            return None
        return await purchases_of(info, self.record.id, first, after)

    @strawberry.field(description="Visible to the user only; null on other users.")
    async def earnings(self, info: CoinsInfo) -> CreatorEarnings | None:
        if not await is_viewer(info, self.record.id):
            return None
        return await earnings_of(info, self.record.id)

    @strawberry.field(
        description="The creator's statement for a UTC month (YYYY-MM), as staff's CSV gives "
        "it. Visible to the user only; null on other users."
    )
    async def statement(self, info: CoinsInfo, month: str) -> CreatorStatement | None:
        if not await is_viewer(info, self.record.id):
            return None
        return CreatorStatement(
            statement=await creator_statement(self.record, month, info.context.settings.economy)
        )

    @strawberry.field(description="Newest first. Visible to the user only; null on other users.")
    async def payouts(
        self, info: CoinsInfo, first: int = 20, after: str | None = None
    ) -> Connection[Payout] | None:
        if not await is_viewer(info, self.record.id):
            return None
        return await payouts_of(info, self.record.id, first, after)

    @strawberry.field(
        description="Partner-offer redemptions with their codes, newest first. Visible to the "
        "user only; null on other users."
    )
    async def redemptions(
        self, info: CoinsInfo, first: int = 20, after: str | None = None
    ) -> Connection[Redemption] | None:
        if not await is_viewer(info, self.record.id):
            return None
        return await redemptions_of(info, self.record.id, first, after)

    @strawberry.field(description="What the user spent and their limits; visible to them only.")
    async def spending(self, info: CoinsInfo) -> SpendingSummary | None:
        if not await is_viewer(info, self.record.id):
            return None
        return SpendingSummary(user_id=self.record.id)

    @strawberry.field(
        description="What the user may still pay for coins this day, week and month, and "
        "which limit binds: query it before showing the store. Open web checkouts (started "
        "within the checkout hold, an hour by default, and unpaid) count as paid. Visible "
        "to the user only."
    )
    async def purchase_allowance(self, info: CoinsInfo) -> PurchaseAllowance | None:
        if not await is_viewer(info, self.record.id):
            return None
        return PurchaseAllowance(
            allowance=await purchase_limits.allowance_of(
                self.record, info.context.settings.purchase_limits
            )
        )

    @strawberry.field
    async def current_live_stream(self, info: CoinsInfo) -> LiveStream | None:
        record = await info.context.loaders.live_stream_by_host_id.load(self.record.id)
        return LiveStream(record=record) if record else None


async def visible_user(info: CoinsInfo, user_id: int) -> User | None:
    """A user as others see them on leaderboards and feeds: null when they opted out."""
    record = await info.context.loaders.user_by_id.load(user_id)
    if record is None:
        return None
    if not record.show_on_leaderboards and not await is_viewer(info, user_id):
        return None
    return User(record=record)


@strawberry.type
class Gift:
    record: strawberry.Private[GiftRecord]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return ids.GIFT.encode(self.record.id)

    @strawberry.field
    def slug(self) -> str:
        return self.record.slug

    @strawberry.field
    def name(self) -> str:
        return self.record.name

    @strawberry.field
    def coin_cost(self) -> int:
        return self.record.coin_cost

    @strawberry.field(description="Diamonds the creator receives for one of this gift.")
    def diamond_value(self) -> int:
        return self.record.diamond_value

    @strawberry.field
    def image_url(self) -> str | None:
        return self.record.image_url

    @strawberry.field
    def retired(self) -> bool:
        return self.record.retired

    @strawberry.field(description="A small still image (https or a path on this site).")
    def thumbnail_url(self) -> str | None:
        return self.record.details.thumbnail_url

    @strawberry.field(description="The animation asset played when the gift is sent.")
    def animation_url(self) -> str | None:
        return self.record.details.animation_url

    @strawberry.field(description="Which player animationUrl needs; NONE without one.")
    def animation_kind(self) -> GiftAnimationKind:  # type: ignore[valid-type]
        return self.record.details.animation_kind

    @strawberry.field(description="1 (everyday) to 10 (the rarest): how grand the effect is.")
    def tier(self) -> int:
        return self.record.details.tier

    @strawberry.field(description="The catalog tab the gift belongs to, e.g. love or luxury.")
    def category(self) -> str | None:
        return self.record.details.category

    @strawberry.field(description="Lower first; the catalog is in this order, then cheapest.")
    def sort_order(self) -> int:
        return self.record.details.sort_order

    @strawberry.field
    def availability(self) -> GiftAvailabilityKind:  # type: ignore[valid-type]
        return self.record.details.availability_kind

    @strawberry.field(description="When the gift can first be sent; null: already.")
    def available_from(self) -> datetime | None:
        return self.record.details.available_from

    @strawberry.field(description="When the gift can no longer be sent; null: never.")
    def available_until(self) -> datetime | None:
        return self.record.details.available_until

    @strawberry.field(description="ISO country codes the gift can be sent from; empty: everywhere.")
    def regions(self) -> list[str]:
        return list(self.record.details.regions)

    @strawberry.field(description="True while the gift's window has not opened yet.")
    def upcoming(self) -> bool:
        start = self.record.details.available_from
        return start is not None and utcnow() < start


@strawberry.type
class GifterRank:
    rank: int
    sender_id: strawberry.Private[int]
    coins: int

    @strawberry.field(description="Null when the gifter has opted out of leaderboards.")
    async def user(self, info: CoinsInfo) -> User | None:
        return await visible_user(info, self.sender_id)


@strawberry.type(
    description="A host's goal for a live stream: gifts sent from when it was set fill it."
)
class StreamGoal:
    record: strawberry.Private[GoalRecord]

    @strawberry.field
    def kind(self) -> StreamGoalKind:
        return self.record.kind

    @strawberry.field(description="The gift a GIFT goal counts; null for a COINS goal.")
    async def gift(self, info: CoinsInfo) -> Gift | None:
        if self.record.gift_id is None:
            return None
        record = await info.context.loaders.gift_by_id.load(self.record.gift_id)
        return Gift(record=record) if record else None

    @strawberry.field(description="Gifts (GIFT) or coins (COINS) to reach.")
    def target(self) -> int:
        return self.record.target

    @strawberry.field(description="Gifts or coins so far; it keeps counting past the target.")
    def progress(self) -> int:
        return self.record.progress

    @strawberry.field
    def completed(self) -> bool:
        return self.record.completed

    @strawberry.field(description="When the gift that reached the target was sent.")
    def completed_at(self) -> datetime | None:
        return self.record.completed_at

    @strawberry.field
    def title(self) -> str | None:
        return self.record.title

    @strawberry.field
    def started_at(self) -> datetime:
        return self.record.started_at


async def stream_goal(info: CoinsInfo, stream_id: int) -> StreamGoal | None:
    record = await info.context.loaders.goal_by_stream_id.load(stream_id)
    return StreamGoal(record=record) if record else None


@strawberry.type
class LiveStream:
    record: strawberry.Private[StreamRecord]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return ids.LIVE_STREAM.encode(self.record.id)

    @strawberry.field
    def title(self) -> str:
        return self.record.title

    @strawberry.field
    async def host(self, info: CoinsInfo) -> User:
        record = await info.context.loaders.user_by_id.load(self.record.host_id)
        assert record is not None
        return User(record=record)

    @strawberry.field
    def status(self) -> LiveStreamStatus:
        return StreamStatus(self.record.status)

    @strawberry.field
    def started_at(self) -> datetime:
        return self.record.started_at

    @strawberry.field
    def ended_at(self) -> datetime | None:
        return self.record.ended_at

    @strawberry.field
    def coins_received(self) -> int:
        return self.record.coins_received

    @strawberry.field
    def gift_count(self) -> int:
        return self.record.gift_count

    @strawberry.field(description="The stream's current goal, if its host set one.")
    async def goal(self, info: CoinsInfo) -> StreamGoal | None:
        return await stream_goal(info, self.record.id)

    @strawberry.field
    async def top_gifters(self, info: CoinsInfo, first: int = 10) -> list[GifterRank]:
        check_page_size(first, MAX_LEADERBOARD)
        ranks = await info.context.loaders.stream_lists.load(("gifters", self.record.id, first))
        return [GifterRank(rank=r.rank, sender_id=r.sender_id, coins=r.coins) for r in ranks]

    @strawberry.field
    async def recent_gifts(self, info: CoinsInfo, first: int = 20) -> list[GiftEvent]:
        check_page_size(first, info.context.settings.graphql.max_page_size)
        events = await info.context.loaders.stream_lists.load(("gifts", self.record.id, first))
        return [GiftEvent(record=event) for event in events]


@strawberry.type
class GiftEvent:
    record: strawberry.Private[GiftEventRecord]
    # A live-feed event's renderings, shared by its subscribers (``app.graphql.fanout``).
    renders: strawberry.Private[SharedRenders | None] = None

    @strawberry.field
    def id(self) -> strawberry.ID:
        return ids.GIFT_EVENT.encode(self.record.id)

    @strawberry.field(description="The gift as priced when it was sent.")
    async def gift(self, info: CoinsInfo) -> Gift:
        record = await info.context.loaders.gift_by_version_id.load(self.record.gift_version_id)
        assert record is not None
        return Gift(record=record)

    @strawberry.field
    def quantity(self) -> int:
        return self.record.quantity

    @strawberry.field
    def coins(self) -> int:
        return self.record.coins

    @strawberry.field
    def diamonds(self) -> int:
        return self.record.diamonds

    @strawberry.field(description="Null when the sender has opted out of leaderboards.")
    async def sender(self, info: CoinsInfo) -> User | None:
        return await visible_user(info, self.record.sender_id)

    @strawberry.field
    async def stream(self, info: CoinsInfo) -> LiveStream:
        record = await info.context.loaders.stream_by_id.load(self.record.stream_id)
        assert record is not None
        return LiveStream(record=record)

    @strawberry.field(
        description="How many of this gift the sender has sent in a row in this stream."
    )
    def combo_count(self) -> int:
        return self.record.combo_count

    @strawberry.field
    def created_at(self) -> datetime:
        return self.record.created_at

    @strawberry.field(
        description="The sender's message (trimmed, at most 150 characters); null when there "
        "is none or the host hid it."
    )
    async def message(self, info: CoinsInfo) -> str | None:
        # Records read from the database come with the visible message; only a live-feed
        # event carries the one it was sent with, which the host may have hidden since.
        if self.record.message is None or self.renders is None:
            return self.record.message
        return await info.context.loaders.visible_message_by_event_id.load(self.record.id)

    @strawberry.field(
        description="The stream's goal as it stands now, this gift counted (null when the "
        "stream has none): the live feed's progress."
    )
    async def goal(self, info: CoinsInfo) -> StreamGoal | None:
        return await stream_goal(info, self.record.stream_id)

    @strawberry.field(
        description="True when this gift is the one that reached the stream's current goal."
    )
    async def completed_goal(self, info: CoinsInfo) -> bool:
        goal = await info.context.loaders.goal_by_stream_id.load(self.record.stream_id)
        return goal is not None and goal.completed_by_event_id == self.record.id

"""The gift catalog, gift events and ``sendGift``."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from app.core.errors import DomainError, ErrorCode
from app.core.ids import decode_id, encode_id
from app.gifts import catalog
from app.gifts import service as gifts
from app.gifts.catalog import GiftRecord
from app.gifts.queries import GiftEventRecord
from app.graphql.context import CoinsInfo, require_viewer
from app.graphql.errors import MutationError, run_mutation
from app.graphql.types.users import User
from app.graphql.types.wallet import Wallet

if TYPE_CHECKING:
    from app.graphql.types.streams import LiveStream


@strawberry.type
class Gift:
    record: strawberry.Private[GiftRecord]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(encode_id("Gift", self.record.id))

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


async def visible_user(info: CoinsInfo, user_id: int) -> User | None:
    """A user as others see them on leaderboards and feeds: null when they opted out."""
    record = await info.context.loaders.user_by_id.load(user_id)
    if record is None:
        return None
    if not record.show_on_leaderboards:
        viewer = await info.context.viewer()
        if viewer is None or viewer.id != user_id:
            return None
    return User(record=record)


@strawberry.type
class GiftEvent:
    record: strawberry.Private[GiftEventRecord]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(encode_id("GiftEvent", self.record.id))

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
    async def stream(
        self, info: CoinsInfo
    ) -> Annotated[LiveStream, strawberry.lazy("app.graphql.types.streams")]:
        from app.graphql.types.streams import LiveStream

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


@strawberry.input
class SendGiftInput:
    stream_id: strawberry.ID
    gift_id: strawberry.ID
    quantity: int = 1
    idempotency_key: str


@strawberry.type
class SendGiftPayload:
    gift_event: GiftEvent | None = None
    wallet: Wallet | None = None
    errors: list[MutationError] = strawberry.field(default_factory=list)


def decode_gift_id(value: str, field: str) -> int:
    return decode_id("Gift", value, field)


@strawberry.type
class GiftsQuery:
    @strawberry.field(
        description="The gift catalog, cheapest first; retired gifts only when "
        "includeRetired is true."
    )
    async def gifts(self, include_retired: bool = False) -> list[Gift]:
        return [Gift(record=r) for r in await catalog.list_gifts(include_retired=include_retired)]

    @strawberry.field
    async def gift(self, info: CoinsInfo, id: strawberry.ID) -> Gift | None:
        try:
            gift_id = decode_gift_id(id, "id")
        except DomainError:
            return None
        record = await info.context.loaders.gift_by_id.load(gift_id)
        return Gift(record=record) if record else None


@strawberry.type
class GiftsMutation:
    @strawberry.mutation
    async def send_gift(self, info: CoinsInfo, input: SendGiftInput) -> SendGiftPayload:
        async def action() -> SendGiftPayload:
            viewer = await require_viewer(info)
            stream_id = decode_id("LiveStream", input.stream_id, "streamId")
            try:
                gift_id = decode_gift_id(input.gift_id, "giftId")
            except DomainError:
                raise DomainError(
                    ErrorCode.GIFT_UNAVAILABLE, "This gift is not available.", "giftId"
                ) from None
            sent = await gifts.send_gift(
                sender_id=viewer.id,
                stream_id=stream_id,
                gift_id=gift_id,
                quantity=input.quantity,
                idempotency_key=input.idempotency_key,
                platform=info.context.settings.spending,
            )
            return SendGiftPayload(
                gift_event=GiftEvent(record=sent.event), wallet=Wallet(user_id=viewer.id)
            )

        return await run_mutation(SendGiftPayload, action)

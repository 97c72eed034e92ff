"""The gift catalog and ``sendGift``."""

from __future__ import annotations

import strawberry

from app.gifts import catalog, messages
from app.gifts import service as gifts
from app.gifts.queries import GiftEventRecord, get_event
from app.graphql import ids
from app.graphql.context import CoinsInfo, require_viewer_id, token_user_id
from app.graphql.errors import MutationError
from app.graphql.mutations import mutation
from app.graphql.types.nodes import Gift, GiftEvent
from app.graphql.types.wallet import Wallet


@strawberry.input
class SendGiftInput:
    stream_id: strawberry.ID
    gift_id: strawberry.ID
    quantity: int = 1
    idempotency_key: str
    country: str | None = strawberry.field(
        default=None,
        description="Where the sender is (ISO code, as for coinPackages): a gift limited to "
        "regions can be sent only from one of them.",
    )
    message: str | None = strawberry.field(
        default=None,
        description="Shown with the gift: at most 150 characters after trimming, no control "
        "characters.",
    )


@strawberry.input
class HideGiftMessageInput:
    gift_event_id: strawberry.ID


@strawberry.type
class HideGiftMessagePayload:
    gift_event: GiftEvent | None = None
    errors: list[MutationError] = strawberry.field(default_factory=list)


@strawberry.type
class SendGiftPayload:
    gift_event: GiftEvent | None = None
    wallet: Wallet | None = None
    errors: list[MutationError] = strawberry.field(default_factory=list)

    @classmethod
    def of(cls, event: GiftEventRecord) -> SendGiftPayload:
        return cls(gift_event=GiftEvent(record=event), wallet=Wallet(user_id=event.sender_id))


@strawberry.type
class GiftsQuery:
    @strawberry.field(
        description="The gift catalog by sortOrder, then cheapest first; retired gifts only "
        "when includeRetired is true. Only gifts that can be sent now from country (ISO "
        "code; a gift limited to regions needs it); with includeUpcoming, also those whose "
        "window opens later (upcoming: true). category: one tab only."
    )
    async def gifts(
        self,
        include_retired: bool = False,
        category: str | None = None,
        country: str | None = None,
        include_upcoming: bool = False,
    ) -> list[Gift]:
        records = await catalog.list_gifts(
            include_retired=include_retired,
            category=category,
            country=country,
            include_upcoming=include_upcoming,
        )
        return [Gift(record=r) for r in records]

    @strawberry.field
    async def gift(self, info: CoinsInfo, id: strawberry.ID) -> Gift | None:
        record = await ids.GIFT.load(id, info.context.loaders.gift_by_id)
        return Gift(record=record) if record else None


@strawberry.type
class GiftsMutation:
    @mutation
    async def send_gift(self, info: CoinsInfo, input: SendGiftInput) -> SendGiftPayload:
        options = {"quantity": input.quantity, "country": input.country, "message": input.message}
        sent = await gifts.send_gift(
            sender_id=token_user_id(info),
            stream_id=ids.LIVE_STREAM.decode(input.stream_id, "streamId"),
            gift_id=ids.GIFT.decode(input.gift_id, "giftId"),
            idempotency_key=input.idempotency_key,
            platform=info.context.settings.spending,
            **options,
        )
        return SendGiftPayload.of(sent.event)

    @mutation(description="The stream's host hides a gift's message: it shows as null after.")
    async def hide_gift_message(
        self, info: CoinsInfo, input: HideGiftMessageInput
    ) -> HideGiftMessagePayload:
        event_id = ids.GIFT_EVENT.decode(input.gift_event_id, "giftEventId")
        await messages.hide_message(event_id, host_id=await require_viewer_id(info))
        return HideGiftMessagePayload(gift_event=GiftEvent(record=await get_event(event_id)))

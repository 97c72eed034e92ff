"""The app as the benchmark serves it: production's ``create_app`` plus one bench-only route.

``uvicorn bench.server:create_bench_app --factory`` serves it. ``POST /bench/send-gift``
is the "minimal Litestar handler": it authenticates the bearer token and calls the very
service function ``sendGift`` calls (``app.gifts.service.send_gift``) with the same
arguments, so the difference between the two is the cost of the GraphQL layer. It exists
only in this module; ``app.main`` never mounts it. When the resolver's call changes, change
this one to match.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Litestar, Request, Response, post

from app.core.errors import DomainError
from app.core.ids import decode_id, encode_id
from app.gifts.service import send_gift
from app.main import create_app
from app.observability.metrics import EXCLUDE_FROM_METRICS
from app.settings import Settings
from app.users.tokens import bearer_token, user_id_from_token


class SendGiftBody(msgspec.Struct, rename="camel"):
    stream_id: str
    gift_id: str
    quantity: int
    idempotency_key: str


def bench_send_gift_handler(settings: Settings) -> Any:
    # Out of Litestar's HTTP metrics, as ``/graphql`` is (it counts its operations itself).
    @post(
        "/bench/send-gift",
        status_code=200,
        opt={"exclude_from_csrf": True, EXCLUDE_FROM_METRICS: True},
    )
    async def bench_send_gift(request: Request, data: SendGiftBody) -> Response[dict]:
        token = bearer_token(request.headers.get("authorization"))
        sender_id = user_id_from_token(token, settings.auth) if token else None
        if sender_id is None:
            return Response({"giftEvent": None, "errors": [{"code": "UNAUTHENTICATED"}]}, 401)
        try:
            sent = await send_gift(
                sender_id=sender_id,
                stream_id=decode_id("LiveStream", data.stream_id, "streamId"),
                gift_id=decode_id("Gift", data.gift_id, "giftId"),
                quantity=data.quantity,
                idempotency_key=data.idempotency_key,
                platform=settings.spending,
            )
        except DomainError as error:
            return Response({"giftEvent": None, "errors": [{"code": error.code.value}]})
        return Response({"giftEvent": {"id": encode_id("GiftEvent", sent.event.id)}, "errors": []})

    return bench_send_gift


def create_bench_app() -> Litestar:
    settings = Settings.from_env()
    app = create_app(settings)
    app.register(bench_send_gift_handler(settings))
    return app

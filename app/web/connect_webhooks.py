"""``/webhooks/stripe-connect``: Stripe Connect events (accounts and creators' payouts),
signed with their own endpoint secret (COINS_STRIPE_CONNECT_WEBHOOK_SECRET).

Statuses as on ``/webhooks/stripe``: 200 processed, duplicate or ignored; 400 bad signature
or body (nothing written); 503 database unavailable (Stripe delivers again).
"""

from __future__ import annotations

import structlog
from litestar import Request, post
from litestar.handlers import HTTPRouteHandler
from litestar.response import Response

from app.core.database import DatabaseUnavailable
from app.payouts.connect_events import handle_connect_event
from app.purchases.verifiers.stripe import BadSignature, parse_event
from app.settings import Settings

log = structlog.get_logger(__name__)


def connect_webhook_handler(settings: Settings) -> HTTPRouteHandler:
    @post("/webhooks/stripe-connect", include_in_schema=False, status_code=200)
    async def stripe_connect_webhook(request: Request) -> Response[dict[str, str]]:
        try:
            event = parse_event(
                await request.body(),
                request.headers.get("stripe-signature"),
                settings.payouts.stripe_connect_webhook_secret,
                settings.payments.stripe_tolerance_s,
            )
        except BadSignature as error:
            log.warning("webhook.bad_signature", provider="stripe-connect", reason=str(error))
            return Response({"status": "invalid signature"}, status_code=400)
        try:
            outcome = await handle_connect_event(event)
        except DatabaseUnavailable as error:
            log.warning("webhook.unavailable", provider="stripe-connect", event_id=event["id"])
            return Response({"status": error.message}, status_code=503)
        log.info(
            "webhook.done", provider="stripe-connect", event_id=event["id"], outcome=outcome.value
        )
        return Response({"status": outcome.value}, status_code=200)

    return stripe_connect_webhook

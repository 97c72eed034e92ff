"""``/webhooks/stripe`` and ``/webhooks/apple``: thin controllers over the purchase services
(``app.purchases.notifications``).

Statuses: 200 processed, duplicate or ignored; 400 bad signature or body (nothing written);
409 an event that refers to a purchase not recorded yet (the provider delivers it again);
422 a verified event we refuse to act on (logged; nothing written).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

import structlog
from appstoreserverlibrary.signed_data_verifier import VerificationException
from litestar import Request, post
from litestar.handlers import HTTPRouteHandler
from litestar.response import Response

from app.core.database import DatabaseUnavailable
from app.core.errors import DomainError
from app.purchases import notifications
from app.purchases.verifiers.apple import AppleNotConfigured, AppleVerifier
from app.purchases.verifiers.stripe import BadSignature, parse_event
from app.settings import Settings

log = structlog.get_logger(__name__)


def _reply(status: int, message: str) -> Response[dict[str, str]]:
    return Response({"status": message}, status_code=status)


async def _run(
    provider: str, event_id: str, handle: Callable[[], Awaitable[notifications.Outcome]]
) -> Response[dict[str, str]]:
    try:
        outcome = await handle()
    except notifications.NotReady as error:
        log.info("webhook.not_ready", provider=provider, event_id=event_id, reason=str(error))
        return _reply(409, "purchase not recorded yet; deliver again later")
    except DatabaseUnavailable as error:
        # Not the sender's fault: a 5xx makes the provider deliver again later.
        log.warning("webhook.unavailable", provider=provider, event_id=event_id)
        return _reply(503, error.message)
    except DomainError as error:
        log.error("webhook.refused", provider=provider, event_id=event_id, reason=error.message)
        return _reply(422, error.message)
    log.info("webhook.done", provider=provider, event_id=event_id, outcome=outcome.value)
    return _reply(200, outcome.value)


def webhook_handlers(settings: Settings) -> list[HTTPRouteHandler]:
    payments = settings.payments

    @post("/webhooks/stripe", include_in_schema=False, status_code=200)
    async def stripe_webhook(request: Request) -> Response[dict[str, str]]:
        payload = await request.body()
        try:
            event = parse_event(
                payload,
                request.headers.get("stripe-signature"),
                payments.stripe_webhook_secret,
                payments.stripe_tolerance_s,
            )
        except BadSignature as error:
            log.warning("webhook.bad_signature", provider="stripe", reason=str(error))
            return _reply(400, "invalid signature")
        return await _run(
            "stripe",
            event["id"],
            lambda: notifications.handle_stripe_event(event, settings.purchase_limits),
        )

    @post("/webhooks/apple", include_in_schema=False, status_code=200)
    async def apple_webhook(request: Request) -> Response[dict[str, str]]:
        try:
            body = json.loads(await request.body())
            signed_payload = body["signedPayload"]
            if not isinstance(signed_payload, str):
                raise TypeError("signedPayload is not a string")
            notification = AppleVerifier(payments).decode_notification(signed_payload)
        except (ValueError, KeyError, TypeError, VerificationException, AppleNotConfigured) as e:
            log.warning("webhook.bad_signature", provider="apple", reason=repr(e))
            return _reply(400, "invalid signed payload")
        return await _run(
            "apple",
            notification.notification_id,
            lambda: notifications.handle_apple_notification(notification),
        )

    return [stripe_webhook, apple_webhook]

"""Stripe Connect events (``/webhooks/stripe-connect``): account state and payout outcomes.

- ``account.updated``: whether the creator's account may be paid (``payouts_enabled``).
- ``payout.paid``: the payout reached the creator's bank: hold -> payouts paid.
- ``payout.failed``: it did not: the payout ends REJECTED and its hold goes back to the
  creator.

Each event is claimed (its id recorded) in the same transaction as its effect, so a
redelivery changes nothing; the effects are conditional on the payout still being
APPROVED, so whichever of ``paid`` and ``failed`` arrives first wins and the other is
ignored. Payout events find our payout through the metadata we gave Stripe
(``coins_payout_id``) and must come from the creator's own connected account.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import structlog

from app.core.clock import utcnow
from app.core.transactions import in_transaction
from app.payouts import accounts
from app.payouts import service as payouts
from app.payouts.tables import Payout
from app.purchases.codes import Provider
from app.purchases.notifications import Outcome, claim_webhook_event

log = structlog.get_logger(__name__)


def _reported_at(event: dict[str, Any]) -> datetime:
    created = event.get("created")
    return datetime.fromtimestamp(created, UTC) if isinstance(created, int) else utcnow()


def _payout_id(obj: dict[str, Any]) -> int | None:
    metadata = obj.get("metadata")
    raw = metadata.get("coins_payout_id") if isinstance(metadata, dict) else None
    return int(raw) if isinstance(raw, str) and raw.isdigit() else None


async def handle_connect_event(event: dict[str, Any]) -> Outcome:
    event_id, event_type = str(event["id"]), str(event.get("type", ""))
    data = event.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    obj = obj if isinstance(obj, dict) else {}
    account = event.get("account") or obj.get("id")

    async def work() -> Outcome:
        if not await claim_webhook_event(Provider.STRIPE, event_id, event_type):
            return Outcome.DUPLICATE
        if event_type == "account.updated" and isinstance(account, str):
            known = await accounts.record_account_update(
                account,
                details_submitted=bool(obj.get("details_submitted")),
                payouts_enabled=bool(obj.get("payouts_enabled")),
                reported_at=_reported_at(event),
            )
            return Outcome.PROCESSED if known else Outcome.IGNORED
        if event_type in ("payout.paid", "payout.failed"):
            return await _settle(event_type, obj, event.get("account"))
        return Outcome.IGNORED

    return await in_transaction(work)


async def _settle(event_type: str, obj: dict[str, Any], account: object) -> Outcome:
    payout_id = _payout_id(obj)
    row = (
        await Payout.select(Payout.creator_id).where(Payout.id == payout_id).first()
        if payout_id is not None
        else None
    )
    if payout_id is None or row is None:
        return Outcome.IGNORED  # a payout the creator made themselves, not one of ours
    # Only the creator's own connected account settles their payout (never a platform
    # event without one, which would equal a creator without an account).
    if not isinstance(account, str) or account != await accounts.stripe_account_id(
        row["creator_id"]
    ):
        log.warning("payout.connect_event_wrong_account", payout_id=payout_id)
        return Outcome.IGNORED
    if event_type == "payout.paid":
        changed = await payouts.settle_paid(payout_id, str(obj.get("id", "")))
    else:
        code = str(obj.get("failure_code") or "unknown")
        message = str(obj.get("failure_message") or "")
        changed = await payouts.settle_failed(
            payout_id, f"The bank did not accept the payout ({code}). {message}".strip()
        )
    if not changed:
        log.info("payout.connect_event_stale", payout_id=payout_id, event_type=event_type)
    return Outcome.PROCESSED if changed else Outcome.IGNORED

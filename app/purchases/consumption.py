"""Answers to Apple's CONSUMPTION_REQUEST: how much of a purchase the buyer used.

When a buyer asks Apple for a refund of a consumable, Apple asks us (a CONSUMPTION_REQUEST
notification) and weighs our answer. We answer with the App Store Server API's "Send
Consumption Information" (``send_consumption_information``, the current version: Apple
deprecated V1's ``send_consumption_data`` and its account fields) through
app-store-server-library, after the notification is recorded and outside any transaction.

What we say:
- ``deliveryStatus``: DELIVERED when the coins were credited; UNDELIVERED_OTHER when they
  never were (a purchase we never recorded, or one HELD for a minor or frozen account).
- ``consumptionPercentage`` (milliunits of 100,000): the purchase's coins spent, counted
  oldest coins first: whatever the buyer spent (gifts, redemptions) after the purchase
  first uses the coins they had before it (or repays what they owed), then this purchase's.
- ``refundPreference``: GRANT_FULL when nothing was used, DECLINE when all of it was,
  GRANT_PRORATED in between.
- ``customerConsented`` as the settings say (the terms of sale ask for it);
  ``sampleContentProvided`` false: coins have no trial.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import structlog
from appstoreserverlibrary.api_client import AsyncAppStoreServerAPIClient
from appstoreserverlibrary.models.ConsumptionRequest import ConsumptionRequest
from appstoreserverlibrary.models.DeliveryStatus import DeliveryStatus
from appstoreserverlibrary.models.Environment import Environment
from appstoreserverlibrary.models.RefundPreference import RefundPreference

from app import ledger
from app.ledger import Currency, TransferKind
from app.purchases.buying import find_purchase
from app.purchases.codes import Provider, PurchaseStatus
from app.purchases.tables import Purchase
from app.settings import PaymentSettings

log = structlog.get_logger(__name__)

FULL_MILLI = 100_000
# What a buyer's coins are used for; clawbacks and holds are not consumption.
SPENDING_KINDS = (TransferKind.GIFT_SENT, TransferKind.REDEMPTION)


@dataclass(frozen=True, slots=True)
class Consumption:
    delivered: bool
    total_coins: int
    consumed_coins: int

    @property
    def percentage_milli(self) -> int:
        if not self.total_coins:
            return 0
        return self.consumed_coins * FULL_MILLI // self.total_coins


async def consumption_of(transaction_id: str) -> Consumption:
    """How much of an App Store purchase was used (read-only; any transaction or none)."""
    purchase = await find_purchase(Provider.APPLE, transaction_id)
    if purchase is None or purchase.status is PurchaseStatus.HELD:
        return Consumption(delivered=False, total_coins=0, consumed_coins=0)
    account = await ledger.user_account_id(purchase.user_id, Currency.COIN)
    row = await Purchase.select(Purchase.operation_id).where(Purchase.id == purchase.id).first()
    credits = [
        posted
        for posted in await ledger.transfers_of(row["operation_id"] if row else 0)
        if posted.credit_account_id == account
    ]
    if not credits:
        return Consumption(delivered=False, total_coins=0, consumed_coins=0)
    credit = credits[0]
    before = credit.credit_balance_after - credit.amount
    spent_after = await ledger.debited_after(account, credit.id, SPENDING_KINDS)
    consumed = min(max(spent_after - before, 0), credit.amount)
    return Consumption(delivered=True, total_coins=credit.amount, consumed_coins=consumed)


def consumption_request(consumption: Consumption, *, consented: bool) -> ConsumptionRequest:
    if not consumption.delivered:
        return ConsumptionRequest(
            customerConsented=consented,
            sampleContentProvided=False,
            deliveryStatus=DeliveryStatus.UNDELIVERED_OTHER,
            refundPreference=RefundPreference.GRANT_FULL,
        )
    milli = consumption.percentage_milli
    if milli == 0:
        preference = RefundPreference.GRANT_FULL
    elif consumption.consumed_coins >= consumption.total_coins:
        preference = RefundPreference.DECLINE
    else:
        preference = RefundPreference.GRANT_PRORATED
    return ConsumptionRequest(
        customerConsented=consented,
        sampleContentProvided=False,
        deliveryStatus=DeliveryStatus.DELIVERED,
        consumptionPercentage=milli,
        refundPreference=preference,
    )


class ConsumptionReporter(Protocol):
    async def send(self, transaction_id: str, request: ConsumptionRequest) -> None: ...


@dataclass(frozen=True)
class AppStoreConsumptionReporter:
    """Sends consumption information with the library's async App Store Server API client,
    authenticated by a JWT the client signs with the In-App Purchase key."""

    payments: PaymentSettings

    async def send(self, transaction_id: str, request: ConsumptionRequest) -> None:
        settings = self.payments
        client = AsyncAppStoreServerAPIClient(
            settings.apple_api_private_key.encode(),
            settings.apple_api_key_id,
            settings.apple_api_issuer_id,
            settings.apple_bundle_id,
            Environment(settings.apple_environment),
        )
        if settings.apple_api_base_url:
            # The client picks Apple's URL by environment and offers no other way in.
            client._base_url = settings.apple_api_base_url.rstrip("/")
        try:
            await client.send_consumption_information(transaction_id, request)
        finally:
            await client.async_close()


def reporter_if_configured(payments: PaymentSettings) -> ConsumptionReporter | None:
    """The App Store reporter when its key is configured and buyers consented; else None."""
    configured = (
        payments.apple_api_private_key
        and payments.apple_api_key_id
        and payments.apple_api_issuer_id
        and payments.apple_bundle_id
    )
    if not configured or not payments.apple_consumption_consent:
        return None
    return AppStoreConsumptionReporter(payments)


async def answer_consumption_request(
    transaction_id: str, reporter: ConsumptionReporter | None, *, consented: bool = True
) -> bool:
    """Tell Apple how much of the purchase was used; False when it could not be sent
    (not configured, or the API refused or was unreachable: Apple then decides without)."""
    if reporter is None:
        log.info("purchase.consumption_not_configured", transaction_id=transaction_id)
        return False
    try:
        request = consumption_request(await consumption_of(transaction_id), consented=consented)
        await reporter.send(transaction_id, request)
    except Exception as error:  # the library raises APIException, httpx its own errors
        log.warning(
            "purchase.consumption_not_sent",
            transaction_id=transaction_id,
            error=type(error).__name__,
            status=getattr(error, "http_status_code", None),
        )
        return False
    log.info(
        "purchase.consumption_sent",
        transaction_id=transaction_id,
        consumption_milli=request.consumptionPercentage,
        delivery=request.rawDeliveryStatus,
    )
    return True

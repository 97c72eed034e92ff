"""Paying creators through Stripe Connect: onboarding, the verified-account rule, transfers
and payouts, and the Connect webhooks that settle them (the real ``stripe`` library against
``fake_stripe``, webhooks signed like Stripe signs them)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from litestar.testing import AsyncTestClient

from app.integrity import verify_all
from app.ledger import AccountCode
from app.payouts import queries as payout_queries
from app.payouts import service as payouts
from app.payouts.codes import PayoutStatus
from app.payouts.provider import PayoutProviderError, provider_for
from app.settings import PaymentSettings, PayoutSettings, Settings
from app.users.tokens import issue_token
from tests.conftest import Database
from tests.factories import diamonds_of, give_diamonds, make_user, staff, system_balances
from tests.graphql.helpers import gql
from tests.payouts import fake_stripe
from tests.payouts.fake_stripe import FakeStripe, connect_event

ONBOARD = """
mutation { startPayoutOnboarding {
  url payoutAccount { status detailsSubmitted payoutsEnabled } errors { code field }
} }
"""
EARNINGS = """
{ me { earnings { availableDiamonds pendingDiamonds nextPayoutAvailableAt nextPayoutDiamonds
                  payoutAccount { status detailsSubmitted payoutsEnabled } } } }
"""
REQUEST = """
mutation Request($diamonds: Int!, $key: String!) {
  requestPayout(input: {diamonds: $diamonds, idempotencyKey: $key}) {
    payout { id status } errors { code message field }
  }
}
"""


@pytest.fixture
def stripe_api() -> Iterator[FakeStripe]:
    with fake_stripe.running() as fake:
        yield fake


@pytest.fixture
def settings(db: Database, stripe_api: FakeStripe) -> Settings:
    return db.settings(
        payouts=PayoutSettings(
            provider="stripe",
            stripe_connect_webhook_secret=fake_stripe.CONNECT_SECRET,
            stripe_onboarding_return_url="https://app.example/payouts/done",
        ),
        payments=PaymentSettings(
            stripe_secret_key=fake_stripe.SECRET_KEY, stripe_api_base=stripe_api.url
        ),
    )


async def post_event(client: AsyncTestClient, event_type: str, obj: dict, **kwargs) -> str:
    body, headers = connect_event(event_type, obj, **kwargs)
    response = await client.post("/webhooks/stripe-connect", content=body, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["status"]


async def verified_creator(client: AsyncTestClient, settings: Settings, diamonds: int):
    """A creator with ``diamonds``, onboarded and verified by ``account.updated``."""
    creator = await make_user("ana")
    await give_diamonds(creator.id, diamonds)
    token = issue_token(creator.id, settings.auth)
    await gql(client, ONBOARD, token=token)
    account = payout_account_id(await stripe_accounts(creator.id))
    obj = {"id": account, "object": "account", "details_submitted": True, "payouts_enabled": True}
    assert await post_event(client, "account.updated", obj, account=account) == "processed"
    return creator, token, account


async def stripe_accounts(creator_id: int) -> str | None:
    from app.payouts import accounts

    return await accounts.stripe_account_id(creator_id)


def payout_account_id(account: str | None) -> str:
    assert account is not None
    assert account.startswith("acct_")
    return account


async def test_onboarding_creates_one_account_and_account_updated_verifies_it(
    client: AsyncTestClient, settings: Settings, stripe_api: FakeStripe
) -> None:
    creator = await make_user("ana")
    await give_diamonds(creator.id, 6_000)
    token = issue_token(creator.id, settings.auth)
    before = (await gql(client, EARNINGS, token=token))["me"]["earnings"]

    first = (await gql(client, ONBOARD, token=token))["startPayoutOnboarding"]
    again = (await gql(client, ONBOARD, token=token))["startPayoutOnboarding"]
    refused = (await gql(client, REQUEST, {"diamonds": 2_000, "key": "k"}, token=token))[
        "requestPayout"
    ]

    assert before["payoutAccount"] == {
        "status": "NOT_STARTED",
        "detailsSubmitted": False,
        "payoutsEnabled": False,
    }
    assert before["nextPayoutAvailableAt"] is None
    assert before["nextPayoutDiamonds"] == 0
    [created] = stripe_api.made("/v1/accounts")
    assert created.params["type"] == "express"
    assert created.params["capabilities[transfers][requested]"] == "true"
    assert created.idempotency_key == f"coins-account-{creator.id}"
    account = payout_account_id(await stripe_accounts(creator.id))
    links = stripe_api.made("/v1/account_links")
    assert [link.params["account"] for link in links] == [account, account]
    assert links[0].params["return_url"] == "https://app.example/payouts/done"
    assert links[0].params["type"] == "account_onboarding"
    assert first["errors"] == []
    assert first["url"].startswith("https://connect.stripe.test/")
    assert first["payoutAccount"]["status"] == "PENDING"
    assert again["url"] != first["url"]  # a fresh single-use link, the same account
    assert refused["payout"] is None
    assert [e["code"] for e in refused["errors"]] == ["PAYOUT_ACCOUNT_NOT_VERIFIED"]

    # A forged event (wrong secret) changes nothing.
    obj = {"id": account, "object": "account", "details_submitted": True, "payouts_enabled": True}
    body, headers = connect_event("account.updated", obj, account=account)
    headers["stripe-signature"] = headers["stripe-signature"].replace("v1=", "v1=0")
    forged = await client.post("/webhooks/stripe-connect", content=body, headers=headers)
    assert forged.status_code == 400

    now = int(time.time())
    submitted = {**obj, "payouts_enabled": False}
    assert await post_event(client, "account.updated", submitted, account=account) == "processed"
    pending = (await gql(client, EARNINGS, token=token))["me"]["earnings"]["payoutAccount"]
    assert pending == {"status": "PENDING", "detailsSubmitted": True, "payoutsEnabled": False}

    assert await post_event(client, "account.updated", obj, account=account, created=now + 5) == (
        "processed"
    )
    # An older report delivered late does not undo the newer one.
    stale = {**obj, "payouts_enabled": False}
    await post_event(client, "account.updated", stale, account=account, created=now - 60)
    after = (await gql(client, EARNINGS, token=token))["me"]["earnings"]
    assert after["payoutAccount"] == {
        "status": "VERIFIED",
        "detailsSubmitted": True,
        "payoutsEnabled": True,
    }
    assert after["nextPayoutAvailableAt"] is not None
    assert after["nextPayoutDiamonds"] == 6_000
    made = (await gql(client, REQUEST, {"diamonds": 2_000, "key": "k"}, token=token))[
        "requestPayout"
    ]
    assert made["errors"] == []
    assert made["payout"]["status"] == "PENDING"


async def test_an_approved_payout_is_a_transfer_and_a_payout_settled_by_payout_paid(
    client: AsyncTestClient, settings: Settings, stripe_api: FakeStripe
) -> None:
    creator, token, account = await verified_creator(client, settings, 6_001)
    await gql(client, REQUEST, {"diamonds": 4_001, "key": "p1"}, token=token)
    [payout] = await payout_queries.list_payouts(creator_id=creator.id)
    provider = provider_for(settings)
    assert provider is not None

    sent = await payouts.approve_payout(payout.id, staff("fin"), provider=provider)

    assert sent.status is PayoutStatus.APPROVED  # waits for Stripe's word
    [transfer] = stripe_api.made("/v1/transfers")
    assert transfer.params == {
        "amount": "2000",  # 4,001 diamonds at 0.5 cents, rounded down
        "currency": "usd",
        "destination": account,
        "transfer_group": f"coins-payout-{payout.id}",
        "metadata[coins_payout_id]": str(payout.id),
    }
    assert transfer.idempotency_key == f"coins-payout-{payout.id}-transfer"
    assert transfer.stripe_account is None  # from the platform's balance
    [stripe_payout] = stripe_api.made("/v1/payouts")
    assert stripe_payout.stripe_account == account  # on the connected account
    assert stripe_payout.idempotency_key == f"coins-payout-{payout.id}-payout"
    assert (await system_balances())[AccountCode.PAYOUT_HOLD] == 4_001

    po = {"id": "po_1", "object": "payout", "status": "paid", "amount": 2000, "currency": "usd"}
    po["metadata"] = {"coins_payout_id": str(payout.id)}
    paid_event = f"evt_paid_{payout.id}"
    assert await post_event(client, "payout.paid", po, account=account, event_id=paid_event) == (
        "processed"
    )
    replay = await post_event(client, "payout.paid", po, account=account, event_id=paid_event)
    late_failure = await post_event(
        client, "payout.failed", {**po, "status": "failed"}, account=account
    )

    assert replay == "duplicate"
    assert late_failure == "ignored"  # paid is final: the first outcome wins
    paid = await payout_queries.get_payout(payout.id)
    assert paid.status is PayoutStatus.PAID
    assert paid.payment_reference == "po_1"
    balances = await system_balances()
    assert balances[AccountCode.PAYOUT_HOLD] == 0
    assert balances[AccountCode.PAYOUTS_PAID] == 4_001
    assert await diamonds_of(creator.id) == 2_000
    assert (await verify_all()).ok


async def test_a_failed_payout_gives_the_diamonds_back_once(
    client: AsyncTestClient, settings: Settings, stripe_api: FakeStripe
) -> None:
    creator, token, account = await verified_creator(client, settings, 5_000)
    await gql(client, REQUEST, {"diamonds": 5_000, "key": "p1"}, token=token)
    [payout] = await payout_queries.list_payouts(creator_id=creator.id)
    provider = provider_for(settings)
    assert provider is not None
    await payouts.approve_payout(payout.id, staff("fin"), provider=provider)
    po = {
        "id": "po_2",
        "object": "payout",
        "status": "failed",
        "failure_code": "account_closed",
        "failure_message": "The bank account has been closed.",
        "metadata": {"coins_payout_id": str(payout.id)},
    }
    other = await make_user("mallory")
    stranger = f"acct_not_{other.id}"

    wrong_account = await post_event(client, "payout.failed", po, account=stranger)
    first = await post_event(client, "payout.failed", po, account=account, event_id="evt_f")
    replay = await post_event(client, "payout.failed", po, account=account, event_id="evt_f")
    again = await post_event(client, "payout.failed", po, account=account)
    paid_after = await post_event(client, "payout.paid", {**po, "status": "paid"}, account=account)

    assert (wrong_account, first, replay, again, paid_after) == (
        "ignored",
        "processed",
        "duplicate",
        "ignored",
        "ignored",
    )
    failed = await payout_queries.get_payout(payout.id)
    assert failed.status is PayoutStatus.REJECTED
    assert "account_closed" in failed.reason
    assert await diamonds_of(creator.id) == 5_000
    assert (await system_balances())[AccountCode.PAYOUT_HOLD] == 0
    earnings = (await gql(client, EARNINGS, token=token))["me"]["earnings"]
    assert earnings["availableDiamonds"] == 5_000
    assert earnings["pendingDiamonds"] == 0
    # The daily cap got the diamonds back too: the creator may ask again today.
    assert earnings["nextPayoutDiamonds"] == 5_000
    assert (await verify_all()).ok


async def test_a_refused_transfer_leaves_the_payout_approved_for_a_retry(
    client: AsyncTestClient, settings: Settings, stripe_api: FakeStripe
) -> None:
    creator, token, _account = await verified_creator(client, settings, 3_000)
    await gql(client, REQUEST, {"diamonds": 3_000, "key": "p1"}, token=token)
    [payout] = await payout_queries.list_payouts(creator_id=creator.id)
    provider = provider_for(settings)
    assert provider is not None
    stripe_api.fail_next("/v1/transfers")

    with pytest.raises(PayoutProviderError):
        await payouts.approve_payout(payout.id, staff("fin"), provider=provider)
    assert (await payout_queries.get_payout(payout.id)).status is PayoutStatus.APPROVED
    assert stripe_api.made("/v1/payouts") == []

    await payouts.pay_payout(payout.id, provider=provider)
    await payouts.pay_payout(payout.id, provider=provider)  # a second retry: same objects

    transfers = stripe_api.made("/v1/transfers")
    assert {t.idempotency_key for t in transfers} == {f"coins-payout-{payout.id}-transfer"}
    assert len({t.stripe_account for t in stripe_api.made("/v1/payouts")}) == 1
    assert (await payout_queries.get_payout(payout.id)).status is PayoutStatus.APPROVED
    assert await diamonds_of(creator.id) == 0


async def test_payout_paid_settles_even_before_the_send_was_recorded(
    client: AsyncTestClient, settings: Settings, stripe_api: FakeStripe
) -> None:
    """Stripe's event may beat our own bookkeeping of the send: the metadata finds the payout."""
    creator, token, account = await verified_creator(client, settings, 2_000)
    await gql(client, REQUEST, {"diamonds": 2_000, "key": "p1"}, token=token)
    [payout] = await payout_queries.list_payouts(creator_id=creator.id)
    provider = provider_for(settings)
    assert provider is not None
    stripe_api.fail_next("/v1/payouts")  # our side never hears back about the payout
    with pytest.raises(PayoutProviderError):
        await payouts.approve_payout(payout.id, staff("fin"), provider=provider)
    po = {"id": "po_3", "object": "payout", "metadata": {"coins_payout_id": str(payout.id)}}

    outcome = await post_event(client, "payout.paid", po, account=account)
    retried = await payouts.pay_payout(payout.id, provider=provider)

    assert outcome == "processed"
    assert retried.status is PayoutStatus.PAID
    assert retried.payment_reference == "po_3"
    assert len(stripe_api.made("/v1/payouts")) == 1  # the retry did not ask Stripe again
    assert (await system_balances())[AccountCode.PAYOUTS_PAID] == 2_000

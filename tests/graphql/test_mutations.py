"""What every mutation promises at the edge: errors as data, ids, reads after writes."""

from __future__ import annotations

import pytest
from litestar.testing import AsyncTestClient

from app.core.ids import encode_id
from app.core.money import Money
from app.core.transactions import RetryTransaction, in_transaction
from app.gifts import service as gifts_service
from app.graphql.mutations import MutationGuarantees
from app.graphql.schema import build_schema
from app.purchases.codes import Platform
from app.purchases.packages import create_package
from app.settings import Settings
from app.users.tokens import issue_token
from tests.factories import coins_of, make_gift, make_stream, make_user
from tests.graphql.helpers import gql


def test_every_mutation_maps_domain_errors_into_its_payload() -> None:
    mutation = build_schema(Settings()).get_type_by_name("Mutation")

    fields = mutation.fields  # type: ignore[union-attr]
    assert len(fields) > 10
    for field in fields:
        assert any(isinstance(e, MutationGuarantees) for e in field.extensions), field.python_name


async def test_a_malformed_id_answers_as_its_argument_does(
    client: AsyncTestClient, settings: Settings
) -> None:
    viewer = await make_user(coins=10)
    token = issue_token(viewer.id, settings.auth)
    stream = encode_id("LiveStream", (await make_stream()).id)
    calls = {
        "sendGift": f'sendGift(input: {{streamId: "{stream}", giftId: "x", idempotencyKey: "k"}})',
        "redeemOffer": 'redeemOffer(input: {offerId: "bad", idempotencyKey: "k"})',
        "reportGift": 'reportGift(input: {giftEventId: "bad", reason: "spam"})',
        "cancelPayout": 'cancelPayout(input: {payoutId: "bad"})',
        "endLiveStream": 'endLiveStream(input: {streamId: "bad"})',
    }

    answers = {}
    for name, call in calls.items():
        data = await gql(
            client, f"mutation {{ {call} {{ errors {{ code field }} }} }}", token=token
        )
        answers[name] = data[name]["errors"]

    assert answers == {
        "sendGift": [{"code": "GIFT_UNAVAILABLE", "field": "giftId"}],
        "redeemOffer": [{"code": "OFFER_UNAVAILABLE", "field": "offerId"}],
        "reportGift": [{"code": "NOT_FOUND", "field": "giftEventId"}],
        "cancelPayout": [{"code": "INVALID_INPUT", "field": "payoutId"}],
        "endLiveStream": [{"code": "INVALID_INPUT", "field": "streamId"}],
    }
    assert await coins_of(viewer.id) == 10


async def test_each_mutation_of_a_request_reads_what_it_wrote(
    client: AsyncTestClient, settings: Settings
) -> None:
    viewer = await make_user()
    package = await create_package(platform=Platform.WEB, coins=70, price=Money(99, "USD"))
    stream = await make_stream()
    gift = await make_gift(coins=5)
    query = """
    mutation ($package: ID!, $stream: ID!, $gift: ID!) {
      purchaseCoins(input: {packageId: $package, provider: SANDBOX, receipt: "r-1",
                            idempotencyKey: "buy"}) { wallet { coins } errors { code } }
      sendGift(input: {streamId: $stream, giftId: $gift, quantity: 3, idempotencyKey: "send"}) {
        wallet { coins } errors { code }
      }
    }
    """
    variables = {
        "package": encode_id("CoinPackage", package.id),
        "stream": encode_id("LiveStream", stream.id),
        "gift": encode_id("Gift", gift.id),
    }

    data = await gql(client, query, variables, token=issue_token(viewer.id, settings.auth))

    assert data["purchaseCoins"] == {"wallet": {"coins": 70}, "errors": []}
    assert data["sendGift"] == {"wallet": {"coins": 55}, "errors": []}
    assert await coins_of(viewer.id) == 55


async def test_a_write_that_keeps_conflicting_answers_a_stable_code_and_moves_nothing(
    client: AsyncTestClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A transaction that still conflicts after every retry (a database overloaded by one
    hot row) is the service's trouble, worded as such with a code a client can act on,
    never "Unexpected error."."""
    monkeypatch.setenv("COINS_DATABASE_RETRY_ATTEMPTS", "2")
    viewer = await make_user(coins=10)
    token = issue_token(viewer.id, settings.auth)
    stream = encode_id("LiveStream", (await make_stream()).id)
    gift = encode_id("Gift", (await make_gift(coins=1)).id)

    async def always_conflicting(**_: object) -> None:
        async def work() -> None:
            raise RetryTransaction("lost a race")

        await in_transaction(work)

    monkeypatch.setattr(gifts_service, "send_gift", always_conflicting)
    data = await gql(
        client,
        f'mutation {{ sendGift(input: {{streamId: "{stream}", giftId: "{gift}", '
        'idempotencyKey: "k"}) { giftEvent { id } errors { code message } } }',
        token=token,
    )

    errors = data["sendGift"]["errors"]
    assert [e["code"] for e in errors] == ["SERVICE_UNAVAILABLE"]
    assert "try again" in errors[0]["message"].lower()
    assert data["sendGift"]["giftEvent"] is None
    assert await coins_of(viewer.id) == 10

"""Client mistakes are answered as client errors (a stable code naming the field), never as
``Unexpected error.`` with an ERROR log line and a traceback: that was cheap log flooding."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from structlog.testing import capture_logs

from app.core.ids import encode_opaque
from app.core.money import Money
from app.purchases.codes import Platform
from app.purchases.packages import create_package
from app.purchases.tables import Purchase
from app.settings import Settings
from app.users.tokens import issue_token
from tests.factories import coins_of, make_gift, make_stream, make_user

LIVE_STREAMS = "query($f: Int!) { liveStreams(first: $f) { edges { cursor } } }"
AFTER = "query($a: String) { liveStreams(first: 5, after: $a) { edges { cursor } } }"
STREAM = "query($id: ID!) { liveStream(id: $id) { title } }"
TOO_BIG = 2**70


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.fixture
def no_error_logs(caplog: pytest.LogCaptureFixture) -> Iterator[list[dict[str, Any]]]:
    """Fails the test if anything is logged at ERROR or above (stdlib or structlog)."""
    with capture_logs() as logs:
        yield logs
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert [e for e in logs if e.get("log_level") in ("error", "critical", "exception")] == []


async def post(
    client: AsyncTestClient, query: str, variables: dict[str, Any], token: str | None = None
) -> dict[str, Any]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    # json.dumps escapes a lone surrogate as \\udXXX, as any client's JSON encoder does.
    body = json.dumps({"query": query, "variables": variables})
    response = await client.post("/graphql", content=body, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert "Unexpected error." not in response.text, body
    return body


def top_level_error(body: dict[str, Any]) -> dict[str, Any]:
    (error,) = body["errors"]
    return error


async def test_a_variable_of_the_wrong_type_is_invalid_input_on_that_variable(
    client: AsyncTestClient, no_error_logs: list
) -> None:
    for value in (2**31, -(2**31) - 1, 1.5, "5", TOO_BIG, True):
        body = await post(client, LIVE_STREAMS, {"f": value})

        error = top_level_error(body)
        assert body["data"] is None
        assert error["extensions"] == {"code": "INVALID_INPUT", "field": "f"}
        assert error["message"].startswith("Variable '$f' has invalid value")


async def test_a_cursor_with_foreign_digits_or_beyond_64_bits_is_invalid_input(
    client: AsyncTestClient, no_error_logs: list
) -> None:
    await make_stream()
    # A live-streams cursor is (stream id, coins received), each part opaque.
    first = encode_opaque("cursor.LiveStream", 1)
    cursors = (
        "²",
        f"{first}.{_b64('cursor.LiveStream:²')}",
        f"{first}.{encode_opaque('cursor.LiveStream', TOO_BIG)}",
        f"{encode_opaque('cursor.LiveStream', 2**63)}.{first}",
        first + "." + _b64("cursor.LiveStream:\u0661\u0662"),
    )

    for cursor in cursors:
        body = await post(client, AFTER, {"a": cursor})

        error = top_level_error(body)
        assert error["extensions"] == {"code": "INVALID_INPUT", "field": "after"}


def test_package_cursors_with_foreign_digits_or_beyond_64_bits_are_invalid_input() -> None:
    from app.core.errors import DomainError
    from app.core.paging import decode_cursor

    for cursor in ("1.2.²", f"1.2.{TOO_BIG}", "1.2.\u0661", "1.2.-3", "1.2.+3", "1.2. 3"):
        with pytest.raises(DomainError) as refused:
            decode_cursor(cursor, 3, "after")
        assert refused.value.field == "after"
    assert decode_cursor(f"1.2.{2**63 - 1}", 3, "after") == (1, 2, 2**63 - 1)


async def test_an_id_with_foreign_digits_or_beyond_64_bits_names_nothing(
    client: AsyncTestClient, no_error_logs: list
) -> None:
    await make_stream()
    ids = (_b64("LiveStream:²"), encode_opaque("LiveStream", TOO_BIG), _b64("LiveStream:\u0661"))

    for stream_id in ids:
        body = await post(client, STREAM, {"id": stream_id})

        assert body == {"data": {"liveStream": None}}


async def test_an_id_argument_with_foreign_digits_is_invalid_input_on_that_field(
    client: AsyncTestClient, settings: Settings, no_error_logs: list
) -> None:
    alice = await make_user("alice", coins=100)
    await make_gift()

    body = await post(
        client,
        "mutation($input: SendGiftInput!) { sendGift(input: $input) { errors { code field } } }",
        {
            "input": {
                "streamId": _b64("LiveStream:²"),
                "giftId": encode_opaque("Gift", TOO_BIG),
                "quantity": 1,
                "idempotencyKey": "k-1",
            }
        },
        issue_token(alice.id, settings.auth),
    )

    (error,) = body["data"]["sendGift"]["errors"]
    assert error["field"] in ("streamId", "giftId")
    assert await coins_of(alice.id) == 100


START = "mutation($t: String!) { startLiveStream(input: {title: $t}) { errors { code field } } }"
SIGN_UP = """mutation($input: SignUpInput!) {
  signUp(input: $input) { token errors { code field } } }"""
LOG_IN = """mutation($h: String!, $p: String!) {
  logIn(input: {handle: $h, password: $p}) { token errors { code field } } }"""
SEND = """mutation($input: SendGiftInput!) { sendGift(input: $input) { errors { code field } } }"""


async def test_nul_bytes_and_lone_surrogates_are_invalid_input_naming_the_field(
    client: AsyncTestClient, settings: Settings, no_error_logs: list
) -> None:
    alice = await make_user("alice", coins=100)
    stream = await make_stream()
    gift = await make_gift()
    token = issue_token(alice.id, settings.auth)

    for bad in ("a\x00b", "a\ud800b", "\udfff"):
        sign_up = await post(
            client,
            SIGN_UP,
            {"input": {"handle": bad, "password": "a long password", "birthDate": "2000-01-01"}},
        )
        sign_up_name = await post(
            client,
            SIGN_UP,
            {
                "input": {
                    "handle": "newcomer",
                    "password": "a long password",
                    "birthDate": "2000-01-01",
                    "displayName": bad,
                }
            },
        )
        log_in = await post(client, LOG_IN, {"h": bad, "p": "a long password"})
        start = await post(client, START, {"t": bad}, token)
        send = await post(
            client,
            SEND,
            {
                "input": {
                    "streamId": encode_opaque("LiveStream", stream.id),
                    "giftId": encode_opaque("Gift", gift.id),
                    "quantity": 1,
                    "idempotencyKey": bad,
                }
            },
            token,
        )

        assert sign_up["data"]["signUp"] == {
            "token": None,
            "errors": [{"code": "INVALID_INPUT", "field": "handle"}],
        }
        assert sign_up_name["data"]["signUp"]["errors"] == [
            {"code": "INVALID_INPUT", "field": "displayName"}
        ]
        assert log_in["data"]["logIn"]["errors"] == [{"code": "INVALID_INPUT", "field": "handle"}]
        assert start["data"]["startLiveStream"]["errors"] == [
            {"code": "INVALID_INPUT", "field": "title"}
        ]
        assert send["data"]["sendGift"]["errors"] == [
            {"code": "INVALID_INPUT", "field": "idempotencyKey"}
        ]
    assert await coins_of(alice.id) == 100


BUY = """mutation($input: PurchaseCoinsInput!) {
  purchaseCoins(input: $input) { purchase { coins } errors { code field } } }"""


async def test_a_receipt_longer_than_its_column_is_invalid_input_and_credits_nothing(
    client: AsyncTestClient, settings: Settings, no_error_logs: list
) -> None:
    alice = await make_user("alice")
    package = await create_package(
        platform=Platform.WEB, coins=70, price=Money(99, "USD"), product_id="web.70"
    )
    limit = Purchase.provider_transaction_id.length

    def buy(receipt: str, key: str) -> dict[str, Any]:
        return {
            "input": {
                "packageId": encode_opaque("CoinPackage", package.id),
                "provider": "SANDBOX",
                "receipt": receipt,
                "idempotencyKey": key,
            }
        }

    token = issue_token(alice.id, settings.auth)
    too_long = await post(client, BUY, buy("r" * (limit + 1), "k-1"), token)
    longest = await post(client, BUY, buy("r" * limit, "k-2"), token)

    assert too_long["data"]["purchaseCoins"] == {
        "purchase": None,
        "errors": [{"code": "INVALID_INPUT", "field": "receipt"}],
    }
    assert longest["data"]["purchaseCoins"] == {"purchase": {"coins": 70}, "errors": []}
    assert await coins_of(alice.id) == 70

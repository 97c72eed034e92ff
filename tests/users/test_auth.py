"""Sign-up, log-in and bearer tokens, through the real HTTP app."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import jwt
import pytest
from litestar.testing import AsyncTestClient

from app.core.clock import set_clock, utcnow
from app.users.tokens import issue_token
from tests.graphql.helpers import gql

SIGN_UP = """
mutation SignUp($input: SignUpInput!) {
  signUp(input: $input) { token user { handle displayName isAdult } errors { code message field } }
}
"""
LOG_IN = """
mutation LogIn($input: LogInInput!) {
  logIn(input: $input) { token user { handle } errors { code message field } }
}
"""
ME = "{ me { handle wallet { coins } } }"


def sign_up_input(**overrides: str) -> dict[str, str]:
    return {
        "handle": "ada.l",
        "password": "a long enough password",
        "displayName": "Ada",
        "birthDate": "1990-12-10",
        **overrides,
    }


async def test_sign_up_returns_a_token_that_works(client: AsyncTestClient) -> None:
    payload = (await gql(client, SIGN_UP, {"input": sign_up_input()}))["signUp"]

    assert payload["errors"] == []
    assert payload["user"] == {"handle": "ada.l", "displayName": "Ada", "isAdult": True}
    me = await gql(client, ME, token=payload["token"])
    assert me == {"me": {"handle": "ada.l", "wallet": {"coins": 0}}}


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"handle": "ab"}, "handle"),
        ({"handle": "a" * 25}, "handle"),
        ({"handle": "no spaces"}, "handle"),
        ({"handle": "émile"}, "handle"),
        ({"password": "short"}, "password"),
        ({"birthDate": "30/04/2001"}, "birthDate"),
        ({"birthDate": "1899-12-31"}, "birthDate"),
        ({"birthDate": (date.today() + timedelta(days=2)).isoformat()}, "birthDate"),
        ({"displayName": "x" * 65}, "displayName"),
    ],
)
async def test_sign_up_validation_names_the_field(
    client: AsyncTestClient, overrides: dict[str, str], field: str
) -> None:
    payload = (await gql(client, SIGN_UP, {"input": sign_up_input(**overrides)}))["signUp"]

    assert payload["token"] is None
    assert payload["user"] is None
    [error] = payload["errors"]
    assert (error["code"], error["field"]) == ("INVALID_INPUT", field)
    assert error["message"]


async def test_a_minor_can_sign_up_but_is_not_an_adult(client: AsyncTestClient) -> None:
    born = utcnow().date().replace(year=utcnow().year - 17)
    payload = (await gql(client, SIGN_UP, {"input": sign_up_input(birthDate=born.isoformat())}))[
        "signUp"
    ]

    assert payload["user"]["isAdult"] is False


async def test_adulthood_starts_on_the_18th_birthday(client: AsyncTestClient) -> None:
    set_clock(lambda: datetime(2026, 6, 15, 12, tzinfo=UTC))
    day_before = await gql(client, SIGN_UP, {"input": sign_up_input(birthDate="2008-06-16")})
    on_the_day = await gql(
        client, SIGN_UP, {"input": sign_up_input(handle="bday", birthDate="2008-06-15")}
    )

    assert day_before["signUp"]["user"]["isAdult"] is False
    assert on_the_day["signUp"]["user"]["isAdult"] is True


async def test_duplicate_handle_is_taken_whatever_the_case(client: AsyncTestClient) -> None:
    await gql(client, SIGN_UP, {"input": sign_up_input()})

    payload = (await gql(client, SIGN_UP, {"input": sign_up_input(handle="ADA.L")}))["signUp"]

    assert payload["errors"] == [
        {"code": "HANDLE_TAKEN", "message": "That handle is taken.", "field": "handle"}
    ]


async def test_log_in_gives_one_error_for_unknown_handle_and_wrong_password(
    client: AsyncTestClient,
) -> None:
    await gql(client, SIGN_UP, {"input": sign_up_input()})

    wrong_password = await gql(
        client, LOG_IN, {"input": {"handle": "ada.l", "password": "not the password"}}
    )
    unknown = await gql(
        client, LOG_IN, {"input": {"handle": "nobody", "password": "a long enough password"}}
    )
    right = await gql(
        client, LOG_IN, {"input": {"handle": "Ada.L", "password": "a long enough password"}}
    )

    assert wrong_password["logIn"]["errors"] == unknown["logIn"]["errors"]
    assert wrong_password["logIn"]["errors"][0]["code"] == "INVALID_CREDENTIALS"
    assert wrong_password["logIn"]["token"] is None
    assert right["logIn"]["errors"] == []
    assert (await gql(client, ME, token=right["logIn"]["token"]))["me"]["handle"] == "ada.l"


async def test_missing_bad_or_expired_tokens_mean_no_viewer(
    client: AsyncTestClient, settings
) -> None:
    token = (await gql(client, SIGN_UP, {"input": sign_up_input()}))["signUp"]["token"]
    user_id = int(jwt.decode(token, options={"verify_signature": False})["sub"])
    forged = jwt.encode(
        {"sub": str(user_id), "iss": "coins", "iat": 0, "exp": 2_000_000_000},
        "some-other-secret-of-sufficient-length",
        algorithm="HS256",
    )
    unsigned = jwt.encode({"sub": str(user_id), "exp": 2_000_000_000}, None, algorithm="none")

    assert await gql(client, ME) == {"me": None}
    assert await gql(client, ME, token="not-a-jwt") == {"me": None}
    assert await gql(client, ME, token=forged) == {"me": None}
    assert await gql(client, ME, token=unsigned) == {"me": None}

    set_clock(lambda: datetime.now(UTC) - timedelta(days=30))
    expired = issue_token(user_id, settings.auth)
    set_clock(None)
    assert await gql(client, ME, token=expired) == {"me": None}
    assert (await gql(client, ME, token=token))["me"]["handle"] == "ada.l"

"""logIn and signUp under floods and guessing (issue 13, item 2): hashing off the event
loop with bounded concurrency, one sign-in per request, limits per handle and per IP,
and a growing wait after failures that never locks an owner out for long."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
import pytest
from limits import parse_many
from litestar.testing import AsyncTestClient

from app.core.database import close_pool, current_engine, is_sqlite, open_pool
from app.core.errors import DomainError, ErrorCode
from app.main import create_app
from app.settings import SignInSettings
from app.sign_in import SignInThrottle
from app.users import passwords
from app.users.service import log_in
from tests.factories import PASSWORD, make_user
from tests.graphql.helpers import gql, gql_response
from tests.hashing import WatchedHasher
from tests.server import served

LOG_IN = """mutation($handle: String!, $password: String!) {
  logIn(input: {handle: $handle, password: $password}) { token errors { code message } } }"""
SIGN_UP = """signUp(input: {handle: "newbie", password: "a long enough password",
  birthDate: "1990-01-01"}) { token }"""
ECONOMY = "{ economy { creatorShare minimumPayoutDiamonds } }"


def limits(**overrides: object) -> SignInSettings:
    """Sign-in settings for a test: generous unless it says otherwise."""
    values: dict[str, object] = {
        "ip_limits": tuple(parse_many("1000/minute")),
        "handle_limits": tuple(parse_many("1000/minute")),
        "free_failures": 1000,
    }
    values.update(overrides)
    return SignInSettings(**values)  # type: ignore[arg-type]


@pytest.fixture
def hasher(monkeypatch: pytest.MonkeyPatch) -> WatchedHasher:
    watched = WatchedHasher(passwords._hasher)
    monkeypatch.setattr(passwords, "_hasher", watched)
    return watched


async def log_in_over_api(client: AsyncTestClient, handle: str, password: str) -> dict:
    return (await gql(client, LOG_IN, {"handle": handle, "password": password}))["logIn"]


# One sign-in per request ---------------------------------------------------------------

TWO_SIGN_INS = {
    "aliases": """mutation { a: logIn(input: {handle: "ada.l", password: "guess one 1"})
        { token } b: logIn(input: {handle: "ada.l", password: "guess two 2"}) { token } }""",
    "log in and sign up": f"""mutation {{ logIn(input: {{handle: "ada.l",
        password: "guess one 1"}}) {{ token }} {SIGN_UP} }}""",
    "two sign-ups": f"mutation {{ first: {SIGN_UP} second: {SIGN_UP} }}",
    "through fragments": """mutation { ...One ... on Mutation { again: logIn(input:
        {handle: "ada.l", password: "guess two 2"}) { token } } }
        fragment One on Mutation { logIn(input: {handle: "ada.l", password: "guess one 1"})
        { token } }""",
}


@pytest.mark.parametrize("document", TWO_SIGN_INS.values(), ids=TWO_SIGN_INS.keys())
async def test_a_second_sign_in_in_one_request_is_refused_before_any_resolver_runs(
    client: AsyncTestClient, hasher: WatchedHasher, document: str
) -> None:
    await make_user("ada.l")
    hashed = hasher.verified

    body = await gql_response(client, document)

    assert body.get("data") is None
    [error] = body["errors"]
    assert error["message"].startswith("One logIn or signUp per request: this operation has 2.")
    assert error["extensions"]["code"] == "INVALID_INPUT"
    assert hasher.verified == hashed  # no password was checked
    assert (await log_in_over_api(client, "ada.l", PASSWORD))["errors"] == []


# Hashing off the event loop, bounded ---------------------------------------------------


async def test_log_ins_hash_on_threads_and_the_server_answers_meanwhile(
    db, hasher: WatchedHasher
) -> None:
    await make_user("ada.l")
    settings = db.settings(sign_in=limits(hash_threads=2, hash_queue=2))
    hasher.hold()
    try:
        with served(create_app(settings)) as server:
            async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:

                async def attempt(password: str) -> dict:
                    variables = {"handle": "ada.l", "password": password}
                    response = await http.post(
                        "/graphql", json={"query": LOG_IN, "variables": variables}
                    )
                    return response.json()["data"]["logIn"]

                guesses = [PASSWORD] + [f"wrong guess {n}" for n in range(5)]
                flights = [asyncio.create_task(attempt(guess)) for guess in guesses]
                # Two hash, two wait their turn, two are refused at once.
                refused: list[dict] = []
                while len(refused) < 2:
                    done, _ = await asyncio.wait(
                        [f for f in flights if not f.done()],
                        timeout=30,
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                    assert done, "nothing was refused while the hashing threads were busy"
                    refused = [f.result() for f in flights if f.done()]
                economy = (await http.post("/graphql", json={"query": ECONOMY})).json()

                assert hasher.inside == 2  # still held: the answer came while they hashed
                assert economy["data"]["economy"]["minimumPayoutDiamonds"] == 2_000
                hasher.release()
                answers = await asyncio.gather(*flights)
    finally:
        hasher.release()

    assert not hasher.timed_out
    assert server.thread not in hasher.threads  # never on the server's event loop
    assert hasher.most_inside == 2
    assert [r["errors"][0]["code"] for r in refused] == ["RATE_LIMITED"] * 2
    assert "Try again in a few seconds" in refused[0]["errors"][0]["message"]
    codes = Counter(a["errors"][0]["code"] if a["errors"] else "SIGNED_IN" for a in answers)
    assert codes["RATE_LIMITED"] == 2
    assert codes["SIGNED_IN"] + codes["INVALID_CREDENTIALS"] == 4


# Limits per handle and per IP -----------------------------------------------------------


async def test_a_handle_answers_rate_limited_after_its_configured_count(db) -> None:
    await make_user("ada.l")
    await make_user("bob.b")
    settings = db.settings(sign_in=limits(handle_limits=tuple(parse_many("3/minute"))))
    async with AsyncTestClient(create_app(settings)) as client:
        wrong = [await log_in_over_api(client, "ada.l", "wrong password") for _ in range(3)]
        fourth = await log_in_over_api(client, "ADA.L", PASSWORD)
        other = await log_in_over_api(client, "bob.b", PASSWORD)

    assert [w["errors"][0]["code"] for w in wrong] == ["INVALID_CREDENTIALS"] * 3
    assert fourth["token"] is None
    [error] = fourth["errors"]
    assert error["code"] == "RATE_LIMITED"
    assert error["message"].startswith("Too many sign-in attempts for this handle. Try again in")
    assert other["errors"] == []  # one handle's limit is its own


async def test_an_ip_answers_rate_limited_after_its_configured_count(db) -> None:
    await make_user("ada.l")
    settings = db.settings(sign_in=limits(ip_limits=tuple(parse_many("4/minute"))))
    async with AsyncTestClient(create_app(settings)) as client:
        tries = [
            await log_in_over_api(client, f"someone{n}", "a guessed password") for n in range(3)
        ]
        sign_up = await gql(client, f"mutation {{ {SIGN_UP} }}")
        fifth = await gql(client, LOG_IN, {"handle": "ada.l", "password": PASSWORD})

    assert [t["errors"][0]["code"] for t in tries] == ["INVALID_CREDENTIALS"] * 3
    assert sign_up["signUp"]["token"]  # sign-ups count against the same IP
    [error] = fifth["logIn"]["errors"]
    assert error["code"] == "RATE_LIMITED"
    assert "from your network" in error["message"]
    assert "Try again in" in error["message"]


async def test_x_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy(db) -> None:
    await make_user("ada.l")
    settings = db.settings(sign_in=limits(ip_limits=tuple(parse_many("2/minute"))))
    async with AsyncTestClient(create_app(settings)) as client:
        answers = []
        for n in range(3):
            response = await client.post(
                "/graphql",
                json={"query": LOG_IN, "variables": {"handle": "ada.l", "password": "wrong one"}},
                headers={"X-Forwarded-For": f"203.0.113.{n}"},
            )
            answers.append(response.json()["data"]["logIn"]["errors"][0]["code"])

    assert answers == ["INVALID_CREDENTIALS", "INVALID_CREDENTIALS", "RATE_LIMITED"]


async def test_concurrent_log_ins_for_one_handle_check_no_more_passwords_than_its_limit(
    db, hasher: WatchedHasher
) -> None:
    await make_user("ada.l")
    throttle = SignInThrottle(limits(handle_limits=tuple(parse_many("10/minute"))))
    guesses = [f"wrong guess number {n}" for n in range(40)]
    guesses[20] = PASSWORD
    if not is_sqlite():
        await open_pool(current_engine(), 8)
    try:
        results = await asyncio.gather(
            *(
                log_in(handle="ada.l", password=g, throttle=throttle, ip=f"198.51.100.{n}")
                for n, g in enumerate(guesses)
            ),
            return_exceptions=True,
        )
    finally:
        await close_pool(current_engine())

    assert hasher.verified == 10
    codes = Counter(r.code for r in results if isinstance(r, DomainError))
    assert codes[ErrorCode.RATE_LIMITED] == 30
    assert isinstance(results[20], DomainError)  # the right one came after the limit


# A growing wait after failures, bounded, and the owner's known IP ------------------------


async def test_repeated_failures_make_a_handle_wait_longer_each_time_up_to_the_cap() -> None:
    throttle = SignInThrottle(limits(free_failures=2, backoff_base_s=1, backoff_max_s=2))

    async def fail_once() -> None:
        await throttle.failed(await throttle.admit("user", handle="ada.l", ip="192.0.2.1"))

    async def refusal() -> str:
        with pytest.raises(DomainError) as refused:
            await throttle.admit("user", handle="ada.l", ip="192.0.2.99")
        assert refused.value.code is ErrorCode.RATE_LIMITED
        return refused.value.message

    await fail_once()
    await throttle.admit("user", handle="ada.l", ip="192.0.2.99")  # one failure is free
    waits = []
    for serve_s in (1.1, 2.1, 0):
        await fail_once()
        waits.append(await refusal())
        await asyncio.sleep(serve_s)  # sit the wait out (the test waits, it asserts no time)

    prefix = "Too many failed sign-ins for this handle. Try again in"
    assert waits == [f"{prefix} 1 second.", f"{prefix} 2 seconds.", f"{prefix} 2 seconds."]


async def test_strangers_guessing_never_lock_the_owner_out_of_a_known_ip(db) -> None:
    await make_user("ada.l")
    throttle = SignInThrottle(limits(free_failures=3, backoff_base_s=300))
    home, stranger = "192.0.2.10", "2001:db8:1:2::7"
    await log_in(handle="ada.l", password=PASSWORD, throttle=throttle, ip=home)
    for n in range(3):
        with pytest.raises(DomainError):
            await log_in(handle="ada.l", password=f"guess {n}", throttle=throttle, ip=stranger)

    with pytest.raises(DomainError) as stranger_waits:
        await log_in(handle="ada.l", password=PASSWORD, throttle=throttle, ip="2001:db8:1:2::8")
    owner = await log_in(handle="ada.l", password=PASSWORD, throttle=throttle, ip=home)

    # The same /64 is the same client: its wait holds for the whole block.
    assert stranger_waits.value.code is ErrorCode.RATE_LIMITED
    assert stranger_waits.value.message.endswith("Try again in 5 minutes.")
    assert owner.handle == "ada.l"

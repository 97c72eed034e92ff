"""Staff sign-in under attack: the lockout counts attempts before passwords, and the
limits every sign-in has (per IP, per handle) apply to the admin's form too."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from limits import parse_many
from litestar.testing import AsyncTestClient

from app.core.database import close_pool, current_engine, is_sqlite, open_pool
from app.core.errors import DomainError, ErrorCode
from app.main import create_app
from app.settings import SignInSettings
from app.staff.service import MAX_FAILED_SIGN_INS, authenticate
from app.staff.tables import StaffUser
from app.users import passwords
from tests.admin.helpers import PASSWORD, make_staff, sign_in
from tests.hashing import WatchedHasher


async def test_121_concurrent_sign_ins_check_at_most_five_passwords(
    db, monkeypatch: pytest.MonkeyPatch
) -> None:
    await make_staff("mod", "MODERATOR")
    hasher = WatchedHasher(passwords._hasher)
    monkeypatch.setattr(passwords, "_hasher", hasher)
    guesses = [f"wrong guess number {n}" for n in range(121)]
    guesses[12] = PASSWORD  # the right one, 13th
    if not is_sqlite():
        await open_pool(current_engine(), 8)  # real concurrent connections
    try:
        results = await asyncio.gather(
            *(authenticate("mod", guess) for guess in guesses), return_exceptions=True
        )
    finally:
        await close_pool(current_engine())

    assert hasher.verified <= MAX_FAILED_SIGN_INS
    assert all(isinstance(result, DomainError) for result in results), "someone signed in"
    assert results[12].code is ErrorCode.RATE_LIMITED
    codes = Counter(result.code for result in results)
    assert codes == {
        ErrorCode.INVALID_CREDENTIALS: hasher.verified,
        ErrorCode.RATE_LIMITED: 121 - hasher.verified,
    }
    row = await StaffUser.select(StaffUser.locked_until).where(StaffUser.handle == "mod").first()
    assert row["locked_until"] is not None


async def test_a_right_password_before_the_limit_signs_in_and_clears_the_count(db) -> None:
    await make_staff("mod", "MODERATOR")
    for _ in range(MAX_FAILED_SIGN_INS - 1):
        with pytest.raises(DomainError) as wrong:
            await authenticate("mod", "not the password")
        assert wrong.value.code is ErrorCode.INVALID_CREDENTIALS

    assert (await authenticate("MOD", PASSWORD)).handle == "mod"
    row = await StaffUser.select().where(StaffUser.handle == "mod").first()
    assert (row["failed_sign_ins"], row["locked_until"]) == (0, None)


async def test_the_admin_form_answers_rate_limited_after_the_ip_limit(db) -> None:
    await make_staff("mod", "MODERATOR")
    limits = SignInSettings(ip_limits=tuple(parse_many("3/minute")))
    async with AsyncTestClient(create_app(db.settings(sign_in=limits))) as client:
        wrong = [await sign_in(client, "nobody", "not the password") for _ in range(3)]
        right = await sign_in(client, "mod", PASSWORD)

    assert [w.status_code for w in wrong] == [401] * 3
    assert right.status_code == 401
    assert "Too many sign-in attempts from your network. Try again in" in right.text
    assert "coins_admin_session" not in right.headers.get("set-cookie", "")


async def test_the_admin_form_makes_a_guessed_handle_wait(db) -> None:
    await make_staff("mod", "MODERATOR")
    limits = SignInSettings(free_failures=2, backoff_base_s=60)
    async with AsyncTestClient(create_app(db.settings(sign_in=limits))) as client:
        wrong = [await sign_in(client, "mod", "not the password") for _ in range(2)]
        right = await sign_in(client, "mod", PASSWORD)

    assert [w.status_code for w in wrong] == [401] * 2
    assert "Too many failed sign-ins for this handle. Try again in 60 seconds." in right.text
    assert right.status_code == 401

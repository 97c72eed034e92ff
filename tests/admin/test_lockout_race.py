"""The staff lockout under concurrent sign-ins: attempts are counted before passwords."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from app.core.database import close_pool, current_engine, is_sqlite, open_pool
from app.core.errors import DomainError, ErrorCode
from app.staff.service import MAX_FAILED_SIGN_INS, authenticate
from app.staff.tables import StaffUser
from app.users import passwords
from tests.admin.helpers import PASSWORD, make_staff
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

"""Flags are deduplicated per subject, rule and pattern while open."""

from __future__ import annotations

import pytest

from app.core.errors import DomainError, ErrorCode
from app.core.transactions import in_transaction
from app.fraud import service as fraud
from app.fraud.codes import FraudRule, Severity
from app.fraud.tables import FraudFlag
from app.users.service import get_user, require_can_transact
from app.users.tables import User
from tests.factories import make_user

pytestmark = pytest.mark.usefixtures("db")


async def test_a_rule_raises_one_open_flag_per_pattern() -> None:
    alice = await make_user()

    first = await fraud.raise_flag(
        alice.id, FraudRule.CIRCULAR_GIFTING, Severity.HIGH, {"with": 2}, pattern_key="2"
    )
    again = await in_transaction(
        lambda: fraud.raise_flag(
            alice.id, FraudRule.CIRCULAR_GIFTING, Severity.HIGH, {"with": 2}, pattern_key="2"
        )
    )
    other_pattern = await fraud.raise_flag(
        alice.id, FraudRule.CIRCULAR_GIFTING, Severity.HIGH, {"with": 3}, pattern_key="3"
    )

    assert (first, again, other_pattern) == (True, False, True)
    assert await FraudFlag.count() == 2
    assert await fraud.has_open_flag(alice.id)
    [flag, _] = await fraud.open_flags(alice.id)
    assert flag["evidence"] in ('{"with": 2}', {"with": 2})


async def test_a_closed_flag_lets_the_rule_flag_again() -> None:
    alice = await make_user()
    await fraud.raise_flag(alice.id, FraudRule.CREATOR_REPORT, Severity.LOW, {})
    await FraudFlag.update({FraudFlag.status: "DISMISSED"}).where(FraudFlag.id > 0)

    assert not await fraud.has_open_flag(alice.id)
    assert await fraud.raise_flag(alice.id, FraudRule.CREATOR_REPORT, Severity.LOW, {})


async def test_minors_and_frozen_accounts_cannot_transact() -> None:
    minor = await make_user(age=15)
    adult = await make_user()
    await User.update({User.frozen: True}).where(User.id == adult.id)

    with pytest.raises(DomainError) as too_young:
        require_can_transact(minor)
    with pytest.raises(DomainError) as frozen:
        require_can_transact(await get_user(adult.id))

    assert too_young.value.code is ErrorCode.AGE_RESTRICTED
    assert frozen.value.code is ErrorCode.ACCOUNT_FROZEN

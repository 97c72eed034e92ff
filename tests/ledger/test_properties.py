"""Random sequences of credits, debits and transfers against an in-memory model."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app import ledger
from app.core.database import close_pool, current_engine, open_pool
from app.core.errors import DomainError, ErrorCode
from app.ledger.codes import AccountCode, Currency, TransferKind
from app.ledger.verify import verify_ledger
from tests.conftest import run_sync
from tests.factories import make_user

USERS = 3
amounts = st.integers(min_value=1, max_value=500)
steps = st.lists(
    st.one_of(
        st.tuples(st.just("credit"), st.integers(0, USERS - 1), amounts),
        st.tuples(st.just("debit"), st.integers(0, USERS - 1), amounts),
        st.tuples(
            st.just("transfer"), st.integers(0, USERS - 1), st.integers(0, USERS - 1), amounts
        ),
        st.tuples(st.just("replay"), st.integers(0, USERS - 1)),
    ),
    min_size=1,
    max_size=25,
)


async def run_pooled(sequence: list[tuple]) -> None:
    """On a small pool, as the app runs: without one every query opens a connection, and
    those, not the ledger, were most of the time on PostgreSQL."""
    engine = current_engine()
    await open_pool(engine, 2)
    try:
        await run_sequence(sequence)
    finally:
        await close_pool(engine)


async def run_sequence(sequence: list[tuple]) -> None:
    people = [await make_user() for _ in range(USERS)]
    account = [await ledger.user_account_id(p.id, Currency.COIN) for p in people]
    issuance = await ledger.system_account_id(AccountCode.COIN_ISSUANCE)
    sink = await ledger.system_account_id(AccountCode.COIN_SINK)
    model = [0] * USERS
    sink_before = await ledger.account_balance(sink)
    sunk = 0
    last_key: dict[int, tuple[str, int, int, int]] = {}

    async def move(
        debit: int, credit: int, amount: int, user: int | None = None, key: str | None = None
    ) -> ledger.Outcome[None]:
        return await ledger.transfer(
            TransferKind.ADJUSTMENT if user is None else TransferKind.GIFT_SENT,
            debit_account_id=debit,
            credit_account_id=credit,
            amount=amount,
            user_id=None if user is None else people[user].id,
            idempotency_key=key,
        )

    for number, step in enumerate(sequence):
        match step:
            case ("credit", who, amount):
                await move(issuance, account[who], amount)
                model[who] += amount
            case ("debit", who, amount) | ("transfer", who, _, amount):
                target = sink if step[0] == "debit" else account[step[2]]
                if target == account[who]:
                    continue
                key = f"step-{number}"
                try:
                    await move(account[who], target, amount, user=who, key=key)
                except DomainError as error:
                    assert error.code is ErrorCode.INSUFFICIENT_FUNDS
                    assert model[who] < amount
                else:
                    assert model[who] >= amount
                    model[who] -= amount
                    if step[0] == "debit":
                        sunk += amount
                    else:
                        model[step[2]] += amount
                    last_key[who] = (key, account[who], target, amount)
            case ("replay", who):
                if who in last_key:
                    key, debit, credit, amount = last_key[who]
                    result = await move(debit, credit, amount, user=who, key=key)
                    assert result.replayed
        balances = await ledger.user_balances([p.id for p in people])
        assert [balances[p.id][Currency.COIN] for p in people] == model
        assert min(model) >= 0
    assert await ledger.account_balance(sink) == sink_before + sunk
    report = await verify_ledger()
    assert report.ok, report.breaches


@pytest.mark.usefixtures("db")
@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(sequence=steps)
def test_random_sequences_match_the_model(sequence: list[tuple]) -> None:
    run_sync(run_pooled(sequence))

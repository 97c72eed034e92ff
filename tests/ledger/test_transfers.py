"""The ledger's guarantees, on both databases."""

from __future__ import annotations

import asyncio

import pytest

from app import ledger
from app.core.errors import DomainError, ErrorCode
from app.core.transactions import in_transaction
from app.ledger.codes import AccountCode, Currency, TransferKind
from app.ledger.tables import Account, Operation, Transfer
from app.ledger.verify import verify_ledger
from tests.factories import coins_of, fund, make_user

pytestmark = pytest.mark.usefixtures("db")


async def spend(user_id: int, amount: int, key: str | None = None) -> ledger.Outcome:
    """A user's coins to the sink: the shape of every spend (gifts, redemptions)."""
    return await ledger.transfer(
        TransferKind.GIFT_SENT,
        debit_account_id=await ledger.user_account_id(user_id, Currency.COIN),
        credit_account_id=await ledger.system_account_id(AccountCode.COIN_SINK),
        amount=amount,
        user_id=user_id,
        idempotency_key=key,
    )


async def counts() -> tuple[int, int]:
    return await Transfer.count(), await Operation.count()


async def test_transfer_is_balanced_and_records_both_balances() -> None:
    alice = await make_user(coins=100)
    result = await spend(alice.id, 30)

    [posted] = result.transfers
    assert posted.amount == 30
    assert posted.debit_balance_after == 70
    sink = await ledger.system_account_id(AccountCode.COIN_SINK)
    assert await ledger.account_balance(sink) == posted.credit_balance_after == 30
    assert await coins_of(alice.id) == 70
    assert await ledger.system_balance(AccountCode.COIN_ISSUANCE) == -100
    assert (await verify_ledger()).ok


async def test_debit_above_balance_fails_and_writes_nothing() -> None:
    alice = await make_user(coins=50)
    before = await counts()

    with pytest.raises(DomainError) as raised:
        await spend(alice.id, 51, key="too-much")

    assert raised.value.code is ErrorCode.INSUFFICIENT_FUNDS
    assert await coins_of(alice.id) == 50
    assert await counts() == before


async def test_a_failed_request_does_not_burn_its_idempotency_key() -> None:
    alice = await make_user(coins=5)
    with pytest.raises(DomainError):
        await spend(alice.id, 10, key="k1")
    await fund(alice.id, 5)

    result = await spend(alice.id, 10, key="k1")

    assert not result.replayed
    assert await coins_of(alice.id) == 0


async def test_fifty_concurrent_debits_never_overspend() -> None:
    alice = await make_user(coins=200)

    outcomes = await asyncio.gather(
        *(spend(alice.id, 10) for _ in range(50)), return_exceptions=True
    )

    successes = [o for o in outcomes if isinstance(o, ledger.Outcome)]
    failures = [o for o in outcomes if not isinstance(o, ledger.Outcome)]
    assert len(successes) == 20
    assert len(failures) == 30
    assert all(
        isinstance(f, DomainError) and f.code is ErrorCode.INSUFFICIENT_FUNDS for f in failures
    ), failures
    assert await coins_of(alice.id) == 0
    assert await Transfer.count().where(Transfer.kind == TransferKind.GIFT_SENT.value) == 20


async def test_idempotent_replay_returns_the_first_result_and_moves_once() -> None:
    alice = await make_user(coins=100)

    first = await spend(alice.id, 40, key="order-1")
    again = await spend(alice.id, 40, key="order-1")

    assert again.replayed
    assert not first.replayed
    assert again.operation_id == first.operation_id
    assert again.transfers == first.transfers
    assert await coins_of(alice.id) == 60


async def test_same_key_with_another_request_is_refused() -> None:
    alice = await make_user(coins=100)
    await spend(alice.id, 40, key="order-1")
    before = await counts()

    with pytest.raises(DomainError) as raised:
        await spend(alice.id, 41, key="order-1")

    assert raised.value.code is ErrorCode.IDEMPOTENCY_KEY_REUSED
    assert raised.value.field == "idempotencyKey"
    assert await coins_of(alice.id) == 60
    assert await counts() == before


async def test_keys_are_scoped_per_user() -> None:
    alice = await make_user(coins=10)
    bob = await make_user(coins=10)

    await spend(alice.id, 10, key="same")
    await spend(bob.id, 10, key="same")

    assert (await coins_of(alice.id), await coins_of(bob.id)) == (0, 0)


async def test_concurrent_calls_with_one_key_move_value_once() -> None:
    alice = await make_user(coins=100)

    results = await asyncio.gather(*(spend(alice.id, 25, key="double-tap") for _ in range(8)))

    assert {r.operation_id for r in results} == {results[0].operation_id}
    assert sum(not r.replayed for r in results) == 1
    assert await coins_of(alice.id) == 75


async def test_opposite_transfers_in_parallel_do_not_deadlock() -> None:
    """Locks are taken in id order, so A->B and B->A at once both complete."""
    alice = await make_user(coins=1_000)
    bob = await make_user(coins=1_000)
    a = await ledger.user_account_id(alice.id, Currency.COIN)
    b = await ledger.user_account_id(bob.id, Currency.COIN)

    async def move(debit: int, credit: int) -> None:
        await ledger.transfer(
            TransferKind.ADJUSTMENT, debit_account_id=debit, credit_account_id=credit, amount=1
        )

    await asyncio.gather(*(move(a, b) if i % 2 else move(b, a) for i in range(40)))

    assert await coins_of(alice.id) + await coins_of(bob.id) == 2_000


async def test_invalid_amounts_are_programming_errors() -> None:
    alice = await make_user(coins=10)
    for amount in (0, -5, 1.5):
        with pytest.raises(ValueError, match="positive integers"):
            await spend(alice.id, amount)  # type: ignore[arg-type]
    assert await coins_of(alice.id) == 10


async def test_clawback_may_go_negative_and_then_blocks_spending() -> None:
    alice = await make_user(coins=100)
    await spend(alice.id, 80)
    coin_account = await ledger.user_account_id(alice.id, Currency.COIN)

    await ledger.transfer(
        TransferKind.REFUND_CLAWBACK,
        debit_account_id=coin_account,
        credit_account_id=await ledger.system_account_id(AccountCode.COIN_ISSUANCE),
        amount=100,
    )

    assert await coins_of(alice.id) == -80
    with pytest.raises(DomainError) as raised:
        await spend(alice.id, 1)
    assert raised.value.code is ErrorCode.INSUFFICIENT_FUNDS
    assert (await verify_ledger()).ok


async def test_an_operation_inside_a_callers_transaction_rolls_back_with_it() -> None:
    alice = await make_user(coins=100)
    before = await counts()

    async def spend_then_fail() -> None:
        await spend(alice.id, 40)
        raise DomainError(ErrorCode.INVALID_INPUT, "the caller changed its mind")

    with pytest.raises(DomainError):
        await in_transaction(spend_then_fail)

    assert await coins_of(alice.id) == 100
    assert await counts() == before


async def test_operation_rolls_back_all_its_transfers() -> None:
    alice = await make_user(coins=100)
    bob = await make_user()
    coin = {u: await ledger.user_account_id(u, Currency.COIN) for u in (alice.id, bob.id)}
    sink = await ledger.system_account_id(AccountCode.COIN_SINK)
    before = await counts()

    async def two_legs_second_fails(operation: ledger.OpenOperation) -> ledger.Plan[None]:
        legs = [
            ledger.Leg(TransferKind.ADJUSTMENT, coin[alice.id], coin[bob.id], 60),
            ledger.Leg(TransferKind.GIFT_SENT, coin[alice.id], sink, 60),
        ]
        return ledger.Plan(legs, "two legs", None)

    with pytest.raises(DomainError) as raised:
        await ledger.run_operation("TEST", user_id=alice.id, build=two_legs_second_fails)
    assert raised.value.code is ErrorCode.INSUFFICIENT_FUNDS

    assert (await coins_of(alice.id), await coins_of(bob.id)) == (100, 0)
    assert await counts() == before


@pytest.mark.tampers
async def test_verify_names_a_hand_edited_balance() -> None:
    alice = await make_user(coins=100)
    await Account.update({Account.balance: 1_000_000}).where(
        (Account.user_id == alice.id) & (Account.currency == Currency.COIN.value)
    )

    checks = {breach.check for breach in (await verify_ledger()).breaches}

    assert {"balance", "zero-sum"} <= checks


@pytest.mark.tampers
async def test_verify_names_a_hand_edited_transfer() -> None:
    alice = await make_user(coins=100)
    await spend(alice.id, 10)
    await Transfer.update({Transfer.amount: 1}).where(Transfer.kind == TransferKind.GIFT_SENT.value)

    checks = {breach.check for breach in (await verify_ledger()).breaches}

    assert "chain" in checks
    assert "balance-after" in checks


@pytest.mark.tampers
async def test_verify_notices_a_deleted_transfer() -> None:
    alice = await make_user(coins=100)
    await spend(alice.id, 10)
    await spend(alice.id, 20)
    first_spend = (
        await Transfer.select(Transfer.id)
        .where(Transfer.kind == TransferKind.GIFT_SENT.value)
        .order_by(Transfer.id)
        .first()
    )
    await Transfer.delete().where(Transfer.id == first_spend["id"])

    checks = {breach.check for breach in (await verify_ledger()).breaches}

    assert {"chain", "operation", "balance"} <= checks


@pytest.mark.tampers
async def test_verify_notices_a_consistent_forgery() -> None:
    """Rewriting amount, balances after and account balances together still breaks the chain."""
    alice = await make_user(coins=100)
    await spend(alice.id, 10)
    await Transfer.update(
        {Transfer.amount: 5, Transfer.debit_balance_after: 95, Transfer.credit_balance_after: 5}
    ).where(Transfer.kind == TransferKind.GIFT_SENT.value)
    await Account.update({Account.balance: 95}).where(
        (Account.user_id == alice.id) & (Account.currency == Currency.COIN.value)
    )
    sink = await ledger.system_account_id(AccountCode.COIN_SINK)
    await Account.update({Account.balance: 5}).where(Account.id == sink)

    breaches = (await verify_ledger()).breaches

    assert [b.check for b in breaches] == ["chain"]

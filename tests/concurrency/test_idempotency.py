"""Twenty concurrent copies of one request move value once and get one answer; a key
reused for another request is refused. And a forged transfer row is named by verify."""

from __future__ import annotations

import asyncio

import pytest

from app import ledger
from app.core.clock import utcnow
from app.core.errors import DomainError, ErrorCode
from app.gifts.tables import GiftEvent
from app.ledger.codes import AccountCode, Currency, TransferKind
from app.ledger.tables import Operation, Transfer
from app.ledger.verify import verify_ledger
from tests.concurrency.helpers import concurrent_connections, unexpected
from tests.factories import coins_of, diamonds_of, make_gift, make_stream, make_user, send

pytestmark = pytest.mark.usefixtures("db")


async def test_twenty_concurrent_copies_of_one_gift_move_once_with_one_answer() -> None:
    viewer = await make_user(coins=1_000)
    host = await make_user()
    stream = await make_stream(host)
    castle = await make_gift("castle", coins=100)
    await concurrent_connections(10)

    answers = await asyncio.gather(
        *(send(viewer, stream, castle, 2, key="tap") for _ in range(20)), return_exceptions=True
    )
    other = await asyncio.gather(send(viewer, stream, castle, 3, key="tap"), return_exceptions=True)

    assert unexpected(answers) == []
    assert len({a.event.id for a in answers}) == 1  # type: ignore[union-attr]
    assert len({(a.event.coins, a.event.diamonds) for a in answers}) == 1  # type: ignore[union-attr]
    assert sum(not a.replayed for a in answers) == 1  # type: ignore[union-attr]
    assert await GiftEvent.count() == 1
    assert await coins_of(viewer.id) == 800
    assert await diamonds_of(host.id) == 100
    [refused] = other
    assert isinstance(refused, DomainError)
    assert (refused.code, refused.field) == (ErrorCode.IDEMPOTENCY_KEY_REUSED, "idempotencyKey")
    assert await coins_of(viewer.id) == 800


@pytest.mark.tampers
async def test_verify_names_an_inserted_transfer() -> None:
    """A row slipped into the transfers (coins from nowhere, balances made to agree) has
    no place in the accounts' hash chains: verify names it."""
    alice = await make_user(coins=100)
    coins = await ledger.user_account_id(alice.id, Currency.COIN)
    issuance = await ledger.system_account_id(AccountCode.COIN_ISSUANCE, alice.id)
    [operation] = await Operation.insert(Operation(kind="FORGED", created_at=utcnow())).returning(
        Operation.id
    )
    [forged] = await Transfer.insert(
        Transfer(
            operation_id=operation["id"],
            kind=TransferKind.PURCHASE.value,
            debit_account_id=issuance,
            credit_account_id=coins,
            amount=1_000,
            debit_balance_after=-1_100,
            credit_balance_after=1_100,
            description="free coins",
            created_at=utcnow(),
            hash="0" * 64,
            detail="",
        )
    ).returning(Transfer.id)

    breaches = (await verify_ledger()).breaches

    named = [b for b in breaches if f"transfer {forged['id']} " in b.message]
    assert [b.check for b in named] == ["chain"], breaches

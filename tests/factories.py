"""One-line builders so a test reads as a scenario."""

from __future__ import annotations

import itertools
from datetime import date

from app.core.clock import utcnow
from app.ledger import service as ledger
from app.ledger.codes import AccountCode, Currency, TransferKind
from app.users import service as users
from app.users.service import UserRecord

PASSWORD = "correct horse battery"
_counter = itertools.count(1)


async def make_user(handle: str | None = None, *, age: int = 30, coins: int = 0) -> UserRecord:
    today = utcnow().date()
    born = date(today.year - age, 1, 1) if age else today
    user = await users.sign_up(
        handle=handle or f"user{next(_counter)}",
        password=PASSWORD,
        birth_date=born.isoformat(),
    )
    if coins:
        await fund(user.id, coins)
    return user


async def fund(user_id: int, coins: int) -> None:
    """Credit coins from issuance, as a purchase would."""
    await ledger.transfer(
        TransferKind.PURCHASE,
        debit_account_id=await ledger.system_account_id(AccountCode.COIN_ISSUANCE),
        credit_account_id=await ledger.user_account_id(user_id, Currency.COIN),
        amount=coins,
    )


async def coins_of(user_id: int) -> int:
    return (await ledger.user_balances([user_id]))[user_id][Currency.COIN]


async def give_diamonds(user_id: int, diamonds: int) -> None:
    """Credit diamonds from issuance, as received gifts would."""
    await ledger.transfer(
        TransferKind.GIFT_RECEIVED,
        debit_account_id=await ledger.system_account_id(AccountCode.DIAMOND_ISSUANCE),
        credit_account_id=await ledger.user_account_id(user_id, Currency.DIAMOND),
        amount=diamonds,
    )


async def diamonds_of(user_id: int) -> int:
    return (await ledger.user_balances([user_id]))[user_id][Currency.DIAMOND]

"""One-line builders so a test reads as a scenario."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

from app import ledger, wiring
from app.audit.service import Actor
from app.core.clock import utcnow
from app.gifts.catalog import GiftRecord
from app.gifts.service import SentGift
from app.ledger.codes import AccountCode, Currency, TransferKind
from app.ledger.tables import Account
from app.settings import Settings, SpendingSettings
from app.streams.feed import GiftFeed
from app.streams.service import StreamRecord
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
        debit_account_id=await ledger.system_account_id(AccountCode.COIN_ISSUANCE, user_id),
        credit_account_id=await ledger.user_account_id(user_id, Currency.COIN),
        amount=coins,
    )


async def coins_of(user_id: int) -> int:
    return (await ledger.user_balances([user_id]))[user_id][Currency.COIN]


async def system_balances() -> dict[AccountCode, int]:
    """The platform accounts' balances (a sharded one's shards added up), in one query."""
    rows = await Account.select(Account.code, Account.balance).where(Account.user_id.is_null())
    found = dict.fromkeys((code for code in AccountCode if code is not AccountCode.USER), 0)
    for row in rows:
        found[AccountCode(row["code"])] += row["balance"]
    return found


async def give_diamonds(user_id: int, diamonds: int) -> None:
    """Credit diamonds from issuance, as received gifts would."""
    await ledger.transfer(
        TransferKind.GIFT_RECEIVED,
        debit_account_id=await ledger.system_account_id(AccountCode.DIAMOND_ISSUANCE, user_id),
        credit_account_id=await ledger.user_account_id(user_id, Currency.DIAMOND),
        amount=diamonds,
    )


async def make_gift(
    slug: str | None = None, *, coins: int = 1, name: str | None = None
) -> GiftRecord:
    from fractions import Fraction

    from app.gifts import catalog

    slug = slug or f"gift-{next(_counter)}"
    return await catalog.create_gift(
        slug=slug, name=name or slug.title(), coin_cost=coins, creator_share=Fraction(1, 2)
    )


async def make_stream(host: UserRecord | None = None, title: str = "Live now") -> StreamRecord:
    from app.streams import service as streams

    host = host or await make_user()
    return await streams.start_stream(host.id, title)


async def settled(timeout_s: float = 10.0) -> None:
    """Settle every gift sent so far, as the app's settler does within milliseconds.

    A served app's own settler may hold a batch it claimed (``settle_all`` skips locked
    rows on PostgreSQL): that batch is waited for until it commits, or the test fails."""
    from app.gifts.settlement import settle_all
    from app.gifts.tables import GiftCredit

    await settle_all()
    async with asyncio.timeout(timeout_s):
        while await GiftCredit.count():
            await asyncio.sleep(0.01)
            await settle_all()


async def diamonds_of(user_id: int) -> int:
    """The user's diamonds once every gift sent so far is settled."""
    await settled()
    return (await ledger.user_balances([user_id]))[user_id][Currency.DIAMOND]


def staff(handle: str, role: str = "FINANCE") -> Actor:
    """A staff member acting through a service, as the admin would pass it."""
    return Actor(staff_id=None, handle=handle, role=role)


async def send(
    sender: UserRecord,
    stream: StreamRecord,
    gift: GiftRecord,
    quantity: int = 1,
    *,
    key: str | None = None,
    platform: SpendingSettings | None = None,
    country: str | None = None,
    message: str | None = None,
) -> SentGift:
    from app.gifts import service as gifts

    return await gifts.send_gift(
        message=message,
        sender_id=sender.id,
        stream_id=stream.id,
        gift_id=gift.id,
        quantity=quantity,
        idempotency_key=key or f"key-{next(_counter)}",
        platform=platform or SpendingSettings(),
        country=country,
    )


@contextmanager
def subscribed(settings: Settings, feed: GiftFeed | None = None) -> Iterator[None]:
    """The after-commit subscribers for ``settings`` (and ``feed``), as an app would wire
    them; they shadow the test run's defaults until the block ends."""
    unsubscribe = wiring.subscribe(settings, feed)
    try:
        yield
    finally:
        unsubscribe()

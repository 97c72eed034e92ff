"""DataLoaders, built per request so their cache lives exactly as long as the request."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from strawberry.dataloader import DataLoader

from app import ledger
from app.gifts import catalog
from app.gifts import queries as gift_events
from app.gifts.catalog import GiftRecord
from app.gifts.queries import GiftEventRecord
from app.ledger.codes import Currency
from app.payouts import queries as payouts
from app.purchases import packages as purchases
from app.purchases.packages import PackageRecord
from app.spending import service as spending
from app.spending.service import SpendingTotals
from app.streams import service as streams
from app.streams.service import GifterRank, StreamRecord
from app.users import service as users
from app.users.service import UserRecord


class UserByIdLoader(DataLoader[int, UserRecord | None]):
    def __init__(self) -> None:
        super().__init__(load_fn=self._load)

    @staticmethod
    async def _load(keys: list[int]) -> list[UserRecord | None]:
        found = await users.users_by_ids(keys)
        return [found.get(key) for key in keys]


class BalancesByUserIdLoader(DataLoader[int, dict[Currency, int]]):
    def __init__(self) -> None:
        super().__init__(load_fn=self._load)

    @staticmethod
    async def _load(keys: list[int]) -> list[dict[Currency, int]]:
        found = await ledger.user_balances(keys)
        return [found[key] for key in keys]


class GiftByIdLoader(DataLoader[int, GiftRecord | None]):
    """Gifts at their current price."""

    def __init__(self) -> None:
        super().__init__(load_fn=self._load)

    @staticmethod
    async def _load(keys: list[int]) -> list[GiftRecord | None]:
        found = await catalog.gifts_by_ids(keys)
        return [found.get(key) for key in keys]


class GiftByVersionIdLoader(DataLoader[int, GiftRecord | None]):
    """Gifts as priced by a version: what a gift event was sent at."""

    def __init__(self) -> None:
        super().__init__(load_fn=self._load)

    @staticmethod
    async def _load(keys: list[int]) -> list[GiftRecord | None]:
        found = await catalog.gifts_by_version_ids(keys)
        return [found.get(key) for key in keys]


class StreamByIdLoader(DataLoader[int, StreamRecord | None]):
    def __init__(self) -> None:
        super().__init__(load_fn=self._load)

    @staticmethod
    async def _load(keys: list[int]) -> list[StreamRecord | None]:
        found = await streams.streams_by_ids(keys)
        return [found.get(key) for key in keys]


class LiveStreamByHostIdLoader(DataLoader[int, StreamRecord | None]):
    def __init__(self) -> None:
        super().__init__(load_fn=self._load)

    @staticmethod
    async def _load(keys: list[int]) -> list[StreamRecord | None]:
        found = await streams.live_streams_of_hosts(keys)
        return [found.get(key) for key in keys]


async def _per_first(
    keys: list[tuple[int, int]],
    load: Callable[[list[int], int], Awaitable[dict[int, list[Any]]]],
) -> list[list[Any]]:
    """Batch ``(stream_id, first)`` keys: one query per distinct page size."""
    results: dict[tuple[int, int], list[Any]] = {}
    for first in {first for _, first in keys}:
        stream_ids = [stream_id for stream_id, f in keys if f == first]
        for stream_id, rows in (await load(stream_ids, first)).items():
            results[(stream_id, first)] = rows
    return [results.get(key, []) for key in keys]


class TopGiftersByStreamLoader(DataLoader[tuple[int, int], list[GifterRank]]):
    def __init__(self) -> None:
        super().__init__(load_fn=lambda keys: _per_first(keys, streams.top_gifters))


class RecentGiftsByStreamLoader(DataLoader[tuple[int, int], list[GiftEventRecord]]):
    def __init__(self) -> None:
        super().__init__(load_fn=lambda keys: _per_first(keys, gift_events.recent_events))


class SpendingTotalsByUserIdLoader(DataLoader[int, SpendingTotals]):
    def __init__(self) -> None:
        super().__init__(load_fn=self._load)

    @staticmethod
    async def _load(keys: list[int]) -> list[SpendingTotals]:
        found = await spending.totals_of(keys)
        return [found[key] for key in keys]


class PackageByIdLoader(DataLoader[int, PackageRecord | None]):
    def __init__(self) -> None:
        super().__init__(load_fn=self._load)

    @staticmethod
    async def _load(keys: list[int]) -> list[PackageRecord | None]:
        found = await purchases.packages_by_ids(keys)
        return [found.get(key) for key in keys]


class HeldDiamondsByUserIdLoader(DataLoader[int, int]):
    """Diamonds each creator has held by pending or approved payouts."""

    def __init__(self) -> None:
        super().__init__(load_fn=self._load)

    @staticmethod
    async def _load(keys: list[int]) -> list[int]:
        found = await payouts.held_diamonds(keys)
        return [found[key] for key in keys]


@dataclass
class Loaders:
    user_by_id: UserByIdLoader = field(default_factory=UserByIdLoader)
    balances_by_user_id: BalancesByUserIdLoader = field(default_factory=BalancesByUserIdLoader)
    gift_by_id: GiftByIdLoader = field(default_factory=GiftByIdLoader)
    gift_by_version_id: GiftByVersionIdLoader = field(default_factory=GiftByVersionIdLoader)
    stream_by_id: StreamByIdLoader = field(default_factory=StreamByIdLoader)
    live_stream_by_host_id: LiveStreamByHostIdLoader = field(
        default_factory=LiveStreamByHostIdLoader
    )
    top_gifters_by_stream: TopGiftersByStreamLoader = field(
        default_factory=TopGiftersByStreamLoader
    )
    recent_gifts_by_stream: RecentGiftsByStreamLoader = field(
        default_factory=RecentGiftsByStreamLoader
    )
    spending_totals_by_user_id: SpendingTotalsByUserIdLoader = field(
        default_factory=SpendingTotalsByUserIdLoader
    )
    package_by_id: PackageByIdLoader = field(default_factory=PackageByIdLoader)
    held_diamonds_by_user_id: HeldDiamondsByUserIdLoader = field(
        default_factory=HeldDiamondsByUserIdLoader
    )

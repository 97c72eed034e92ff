"""DataLoaders, built per request so their cache lives exactly as long as the request.

Each is ``loader(batch, missing)`` over a service function that takes many keys and
returns ``{key: value}``: one query per batch, whatever the page size. ``missing`` is
what a key the function leaves out loads as (None for "no such row"); it is shared by
every such key, so it is immutable.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from types import MappingProxyType
from typing import TypeVar

from strawberry.dataloader import DataLoader

from app.gifts import catalog, settlement
from app.gifts import queries as gift_events
from app.ledger.codes import Currency
from app.payouts import queries as payouts
from app.purchases import packages as purchases
from app.spending import service as spending
from app.spending.service import SpendingTotals
from app.streams import service as streams
from app.users import service as users

K = TypeVar("K")
V = TypeVar("V")
M = TypeVar("M")

NO_BALANCES: Mapping[Currency, int] = MappingProxyType(dict.fromkeys(Currency, 0))


def loader(
    batch: Callable[[list[K]], Awaitable[Mapping[K, V]]], missing: M
) -> DataLoader[K, V | M]:
    """An ``XByYLoader``: ``batch(keys) -> {key: value}``, one result per key in key order."""

    async def load(keys: list[K]) -> list[V | M]:
        found = await batch(keys)
        return [found.get(key, missing) for key in keys]

    return DataLoader(load_fn=load)


def per_page_size(
    load: Callable[[list[int], int], Awaitable[Mapping[int, V]]],
) -> Callable[[list[tuple[int, int]]], Awaitable[Mapping[tuple[int, int], V]]]:
    """Batch ``(stream_id, first)`` keys: one query per distinct page size."""

    async def batch(keys: list[tuple[int, int]]) -> dict[tuple[int, int], V]:
        found: dict[tuple[int, int], V] = {}
        for first in {first for _, first in keys}:
            stream_ids = [stream_id for stream_id, size in keys if size == first]
            for stream_id, rows in (await load(stream_ids, first)).items():
                found[(stream_id, first)] = rows
        return found

    return batch


class Loaders:
    """One set per request (and afresh after each mutation and each subscription event)."""

    def __init__(self) -> None:
        self.user_by_id = loader(users.users_by_ids, None)
        # Diamonds count gifts received and not settled yet: what a wallet shows is exact.
        self.balances_by_user_id = loader(settlement.exact_balances, NO_BALANCES)
        # Gifts at their current price, and as priced by a version (what an event cost).
        self.gift_by_id = loader(catalog.gifts_by_ids, None)
        self.gift_by_version_id = loader(catalog.gifts_by_version_ids, None)
        # Stream totals count what is still queued, likewise.
        self.stream_by_id = loader(settlement.streams_by_ids, None)
        self.live_stream_by_host_id = loader(settlement.live_streams_of_hosts, None)
        self.top_gifters_by_stream = loader(per_page_size(streams.top_gifters), ())
        self.recent_gifts_by_stream = loader(per_page_size(gift_events.recent_events), ())
        self.spending_totals_by_user_id = loader(spending.totals_of, SpendingTotals(0, 0, 0))
        self.package_by_id = loader(purchases.packages_by_ids, None)
        # Diamonds each creator has held by pending or approved payouts.
        self.held_diamonds_by_user_id = loader(payouts.held_diamonds, 0)

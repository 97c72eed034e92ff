"""DataLoaders, built per request so their cache lives exactly as long as the request.

Each is ``loader(batch, missing)`` over a service function that takes many keys and
returns ``{key: value}``: one query per batch, whatever the page size. ``missing`` is
what a key the function leaves out loads as (None for "no such row"); it is shared by
every such key, so it is immutable.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from functools import cached_property
from types import MappingProxyType
from typing import Any, ClassVar, TypeVar

from strawberry.dataloader import DataLoader

from app.gifts import catalog, messages, settlement
from app.gifts import queries as gift_events
from app.gifts.catalog import GiftRecord
from app.ledger.codes import Currency
from app.offers import catalog as offers
from app.offers.catalog import OfferRecord
from app.payouts import queries as payouts
from app.purchases import packages as purchases
from app.purchases.packages import PackageRecord
from app.spending import service as spending
from app.spending.service import SpendingTotals
from app.streams import service as streams
from app.streams.goals import GoalRecord
from app.streams.service import StreamRecord
from app.users import service as users
from app.users.service import UserRecord

K = TypeVar("K")
V = TypeVar("V")
M = TypeVar("M")

NO_BALANCES: Mapping[Currency, int] = MappingProxyType(dict.fromkeys(Currency, 0))


class SharedDataLoader(DataLoader[K, V]):
    """A loader many tasks await (a feed event's subscribers): one task's cancellation (its
    socket closed) must not cancel the load the others wait on, so each gets a shield."""

    def load(self, key: K) -> Awaitable[V]:
        return asyncio.shield(super().load(key))


def loader(
    batch: Callable[[list[K]], Awaitable[Mapping[K, V]]], missing: M, *, shared: bool = False
) -> DataLoader[K, V | M]:
    """An ``XByYLoader``: ``batch(keys) -> {key: value}``, one result per key in key order."""

    async def load(keys: list[K]) -> list[V | M]:
        found = await batch(keys)
        return [found.get(key, missing) for key in keys]

    return (SharedDataLoader if shared else DataLoader)(load_fn=load)


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


# Each request makes a fresh set, and most use two or three of them: a loader is built on
# first use (``functools.cached_property``), not for every request.
class Loaders:
    """One set per request (and afresh after each mutation and each subscription event)."""

    shared: ClassVar[bool] = False

    @cached_property
    def user_by_id(self) -> DataLoader[int, UserRecord | None]:
        return loader(users.users_by_ids, None, shared=self.shared)

    @cached_property
    def balances_by_user_id(self) -> DataLoader[int, Mapping[Currency, int]]:
        """Diamonds count gifts received and not settled yet: what a wallet shows is exact."""
        return loader(settlement.exact_balances, NO_BALANCES, shared=self.shared)

    @cached_property
    def gift_by_id(self) -> DataLoader[int, GiftRecord | None]:
        """Gifts at their current price."""
        return loader(catalog.gifts_by_ids, None, shared=self.shared)

    @cached_property
    def gift_by_version_id(self) -> DataLoader[int, GiftRecord | None]:
        """Gifts as priced by a version (what an event cost)."""
        return loader(catalog.gifts_by_version_ids, None, shared=self.shared)

    @cached_property
    def stream_by_id(self) -> DataLoader[int, StreamRecord | None]:
        """Stream totals count what is still queued, likewise."""
        return loader(settlement.streams_by_ids, None, shared=self.shared)

    @cached_property
    def goal_by_stream_id(self) -> DataLoader[int, GoalRecord | None]:
        """A stream's active goal, counting what is still queued, likewise."""
        return loader(settlement.goals_by_stream_ids, None, shared=self.shared)

    @cached_property
    def visible_message_by_event_id(self) -> DataLoader[int, str | None]:
        """A gift's message unless it was hidden (a feed event may predate the hide)."""
        return loader(messages.visible_messages, None, shared=self.shared)

    @cached_property
    def live_stream_by_host_id(self) -> DataLoader[int, StreamRecord | None]:
        return loader(settlement.live_streams_of_hosts, None, shared=self.shared)

    @cached_property
    def stream_lists(self) -> DataLoader[tuple[str, int, int], Sequence[Any]]:
        """A stream's top gifters (``("gifters", id, first)``) and recent gifts (``("gifts",
        id, first)``) in one batch: a page asking for both gets them in one wave, so the users
        and gifts they name load together too, in as many statements whatever the sizes."""
        gifters, gifts = (
            per_page_size(streams.top_gifters),
            per_page_size(gift_events.recent_events),
        )

        async def batch(keys: list[tuple[str, int, int]]) -> dict[tuple[str, int, int], Any]:
            found: dict[tuple[str, int, int], Any] = {}
            for kind, load in (("gifters", gifters), ("gifts", gifts)):
                wanted = [(stream_id, first) for k, stream_id, first in keys if k == kind]
                if wanted:
                    for (stream_id, first), rows in (await load(wanted)).items():
                        found[(kind, stream_id, first)] = rows
            return found

        return loader(batch, (), shared=self.shared)

    @cached_property
    def spending_totals_by_user_id(self) -> DataLoader[int, SpendingTotals]:
        return loader(spending.totals_of, SpendingTotals(0, 0, 0), shared=self.shared)

    @cached_property
    def package_by_id(self) -> DataLoader[int, PackageRecord | None]:
        return loader(purchases.packages_by_ids, None, shared=self.shared)

    @cached_property
    def offer_by_id(self) -> DataLoader[int, OfferRecord | None]:
        """Partner offers with their codes left (a user's redemptions name them)."""
        return loader(offers.offers_by_ids, None, shared=self.shared)

    @cached_property
    def held_diamonds_by_user_id(self) -> DataLoader[int, int]:
        """Diamonds each creator has held by pending or approved payouts."""
        return loader(payouts.held_diamonds, 0, shared=self.shared)


class SharedLoaders(Loaders):
    """One set for all the local subscribers of one feed event."""

    shared = True

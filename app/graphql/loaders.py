"""DataLoaders, built per request so their cache lives exactly as long as the request."""

from __future__ import annotations

from dataclasses import dataclass, field

from strawberry.dataloader import DataLoader

from app.ledger import service as ledger
from app.ledger.codes import Currency
from app.payouts import service as payouts
from app.purchases import service as purchases
from app.purchases.service import PackageRecord
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
    package_by_id: PackageByIdLoader = field(default_factory=PackageByIdLoader)
    held_diamonds_by_user_id: HeldDiamondsByUserIdLoader = field(
        default_factory=HeldDiamondsByUserIdLoader
    )

"""Users: ``me``, sign-up and log-in."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import strawberry

from app.core.ids import encode_id
from app.graphql.context import CoinsInfo, require_viewer
from app.graphql.errors import MutationError, run_mutation
from app.graphql.types.payouts import CreatorEarnings, PayoutConnection, earnings_of, payouts_of
from app.graphql.types.purchases import CoinPurchaseConnection, purchase_connection
from app.graphql.types.wallet import Wallet
from app.users import service as users
from app.users.service import UserRecord
from app.users.tokens import issue_token

if TYPE_CHECKING:
    from app.graphql.types.spending import SpendingSummary
    from app.graphql.types.streams import LiveStream


@strawberry.type
class User:
    record: strawberry.Private[UserRecord]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(encode_id("User", self.record.id))

    @strawberry.field
    def handle(self) -> str:
        return self.record.handle

    @strawberry.field
    def display_name(self) -> str:
        return self.record.display_name

    @strawberry.field(
        description="True when the user is 18 or older: only adults may buy coins, send gifts, "
        "go live or cash out."
    )
    def is_adult(self) -> bool:
        return self.record.is_adult

    @strawberry.field
    def show_on_leaderboards(self) -> bool:
        return self.record.show_on_leaderboards

    @strawberry.field(description="Visible to the user only; null on other users.")
    async def wallet(self, info: CoinsInfo) -> Wallet | None:
        viewer = await info.context.viewer()
        if viewer is None or viewer.id != self.record.id:
            return None
        return Wallet(user_id=self.record.id)

    @strawberry.field(description="Coin purchases, newest first. Visible to the user only.")
    async def purchases(
        self, info: CoinsInfo, first: int = 20, after: str | None = None
    ) -> CoinPurchaseConnection | None:
        viewer = await info.context.viewer()
        if viewer is None or viewer.id != self.record.id:
            return None
        return await purchase_connection(info, self.record.id, first, after)

    @strawberry.field(description="Visible to the user only; null on other users.")
    async def earnings(self, info: CoinsInfo) -> CreatorEarnings | None:
        viewer = await info.context.viewer()
        if viewer is None or viewer.id != self.record.id:
            return None
        return await earnings_of(info, self.record.id)

    @strawberry.field(description="Newest first. Visible to the user only; null on other users.")
    async def payouts(
        self, info: CoinsInfo, first: int = 20, after: str | None = None
    ) -> PayoutConnection | None:
        viewer = await info.context.viewer()
        if viewer is None or viewer.id != self.record.id:
            return None
        return await payouts_of(info, self.record.id, first, after)

    @strawberry.field(description="What the user spent and their limits; visible to them only.")
    async def spending(
        self, info: CoinsInfo
    ) -> Annotated[SpendingSummary, strawberry.lazy("app.graphql.types.spending")] | None:
        from app.graphql.types.spending import SpendingSummary

        viewer = await info.context.viewer()
        if viewer is None or viewer.id != self.record.id:
            return None
        return SpendingSummary(user_id=self.record.id)

    @strawberry.field
    async def current_live_stream(
        self, info: CoinsInfo
    ) -> Annotated[LiveStream, strawberry.lazy("app.graphql.types.streams")] | None:
        from app.graphql.types.streams import LiveStream

        record = await info.context.loaders.live_stream_by_host_id.load(self.record.id)
        return LiveStream(record=record) if record else None


@strawberry.input
class SignUpInput:
    handle: str
    password: str
    display_name: str | None = None
    birth_date: str = strawberry.field(description="ISO date, e.g. 2001-04-30.")


@strawberry.input
class LogInInput:
    handle: str
    password: str


@strawberry.type
class AuthPayload:
    token: str | None = strawberry.field(
        default=None, description="A bearer token for the Authorization header."
    )
    user: User | None = None
    errors: list[MutationError] = strawberry.field(default_factory=list)


@strawberry.input
class SetLeaderboardVisibilityInput:
    show_on_leaderboards: bool


@strawberry.type
class UserPayload:
    user: User | None = None
    errors: list[MutationError] = strawberry.field(default_factory=list)


@strawberry.type
class UsersQuery:
    @strawberry.field(
        description="The signed-in user; null when the request carries no valid token."
    )
    async def me(self, info: CoinsInfo) -> User | None:
        viewer = await info.context.viewer()
        return User(record=viewer) if viewer else None


@strawberry.type
class UsersMutation:
    @strawberry.mutation
    async def sign_up(self, info: CoinsInfo, input: SignUpInput) -> AuthPayload:
        async def action() -> AuthPayload:
            user = await users.sign_up(
                handle=input.handle,
                password=input.password,
                birth_date=input.birth_date,
                display_name=input.display_name,
            )
            return _signed_in(info, user)

        return await run_mutation(AuthPayload, action)

    @strawberry.mutation
    async def log_in(self, info: CoinsInfo, input: LogInInput) -> AuthPayload:
        async def action() -> AuthPayload:
            user = await users.log_in(handle=input.handle, password=input.password)
            return _signed_in(info, user)

        return await run_mutation(AuthPayload, action)

    @strawberry.mutation
    async def set_leaderboard_visibility(
        self, info: CoinsInfo, input: SetLeaderboardVisibilityInput
    ) -> UserPayload:
        async def action() -> UserPayload:
            viewer = await require_viewer(info)
            user = await users.set_leaderboard_visibility(viewer.id, input.show_on_leaderboards)
            info.context.cache["viewer"] = user
            return UserPayload(user=User(record=user))

        return await run_mutation(UserPayload, action)


def _signed_in(info: CoinsInfo, user: UserRecord) -> AuthPayload:
    token = issue_token(user.id, info.context.settings.auth)
    # Later fields of this response (``user { wallet }``) belong to the new user.
    info.context.cache["viewer"] = user
    return AuthPayload(token=token, user=User(record=user))

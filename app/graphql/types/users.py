"""Users: ``me``, sign-up, log-in and leaderboard visibility."""

from __future__ import annotations

import strawberry

from app.graphql.context import CoinsInfo, require_viewer_id
from app.graphql.errors import MutationError
from app.graphql.mutations import mutation
from app.graphql.types.nodes import User
from app.users import service as users
from app.users.service import UserRecord
from app.users.tokens import issue_token


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
    @mutation
    async def sign_up(self, info: CoinsInfo, input: SignUpInput) -> AuthPayload:
        user = await users.sign_up(
            handle=input.handle,
            password=input.password,
            birth_date=input.birth_date,
            display_name=input.display_name,
            throttle=info.context.sign_in,
            ip=info.context.client_ip(),
        )
        return signed_in(info, user)

    @mutation
    async def log_in(self, info: CoinsInfo, input: LogInInput) -> AuthPayload:
        user = await users.log_in(
            handle=input.handle,
            password=input.password,
            throttle=info.context.sign_in,
            ip=info.context.client_ip(),
        )
        return signed_in(info, user)

    @mutation
    async def set_leaderboard_visibility(
        self, info: CoinsInfo, input: SetLeaderboardVisibilityInput
    ) -> UserPayload:
        user_id = await require_viewer_id(info)
        user = await users.set_leaderboard_visibility(user_id, input.show_on_leaderboards)
        info.context.cache["viewer"] = user
        return UserPayload(user=User(record=user))


def signed_in(info: CoinsInfo, user: UserRecord) -> AuthPayload:
    """A token for the user, who is the viewer for the rest of this response."""
    info.context.cache["viewer"] = user
    return AuthPayload(
        token=issue_token(user.id, info.context.settings.auth), user=User(record=user)
    )

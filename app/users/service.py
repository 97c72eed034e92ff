"""Users: sign-up, log-in and the facts other domains ask about (age, frozen)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from app import ledger
from app.audit import service as audit
from app.audit.service import Actor
from app.core.clock import as_utc, utcnow
from app.core.database import is_unique_violation
from app.core.errors import DomainError, ErrorCode
from app.core.events import emit
from app.core.transactions import in_transaction
from app.sign_in import SignInThrottle
from app.users.passwords import hash_password, verify_password
from app.users.tables import User

HANDLE_PATTERN = re.compile(r"^[a-z0-9_.]{3,24}$")
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 256
MAX_DISPLAY_NAME_LENGTH = 64
ADULT_AGE_YEARS = 18
EARLIEST_BIRTH_DATE = date(1900, 1, 1)


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: int
    handle: str
    display_name: str
    birth_date: date
    show_on_leaderboards: bool
    frozen: bool
    created_at: datetime
    frozen_reason: str = ""

    def age_on(self, day: date) -> int:
        had_birthday = (day.month, day.day) >= (self.birth_date.month, self.birth_date.day)
        return day.year - self.birth_date.year - (0 if had_birthday else 1)

    @property
    def is_adult(self) -> bool:
        return self.age_on(utcnow().date()) >= ADULT_AGE_YEARS


_COLUMNS = (
    User.id,
    User.handle,
    User.display_name,
    User.birth_date,
    User.show_on_leaderboards,
    User.frozen,
    User.frozen_reason,
    User.created_at,
)


def _record(row: dict) -> UserRecord:
    return UserRecord(
        id=row["id"],
        handle=row["handle"],
        display_name=row["display_name"],
        birth_date=row["birth_date"],
        show_on_leaderboards=bool(row["show_on_leaderboards"]),
        frozen=bool(row["frozen"]),
        created_at=as_utc(row["created_at"]),
        frozen_reason=row["frozen_reason"],
    )


def normalize_handle(handle: str) -> str:
    return handle.strip().lower()


def validate_handle(handle: str) -> str:
    handle = normalize_handle(handle)
    if not HANDLE_PATTERN.fullmatch(handle):
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            "A handle is 3 to 24 characters: lowercase letters, digits, '_' and '.'.",
            "handle",
        )
    return handle


def validate_password(password: str) -> str:
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"A password is {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters.",
            "password",
        )
    return password


def parse_birth_date(value: str) -> date:
    try:
        born = date.fromisoformat(value.strip())
    except ValueError:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            "Give the birth date as an ISO date, e.g. 2001-04-30.",
            "birthDate",
        ) from None
    if born > utcnow().date():
        raise DomainError(
            ErrorCode.INVALID_INPUT, "A birth date cannot be in the future.", "birthDate"
        )
    if born < EARLIEST_BIRTH_DATE:
        raise DomainError(
            ErrorCode.INVALID_INPUT, "A birth date cannot be before 1900.", "birthDate"
        )
    return born


def validate_display_name(display_name: str | None, handle: str) -> str:
    name = " ".join((display_name or "").split()) or handle
    if len(name) > MAX_DISPLAY_NAME_LENGTH or not name.isprintable():
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"A display name is at most {MAX_DISPLAY_NAME_LENGTH} printable characters.",
            "displayName",
        )
    return name


async def sign_up(
    *,
    handle: str,
    password: str,
    birth_date: str,
    display_name: str | None = None,
    throttle: SignInThrottle | None = None,
    ip: str | None = None,
) -> UserRecord:
    """Create a user and their coin and diamond accounts in one transaction.

    ``throttle`` counts the attempt against the client's ``ip`` first (the API passes it;
    scripts and the CLI, which no stranger can call, do not).
    """
    if throttle is not None:
        await throttle.admit("sign-up", ip=ip)
    handle = validate_handle(handle)
    validate_password(password)
    born = parse_birth_date(birth_date)
    name = validate_display_name(display_name, handle)
    password_hash = await hash_password(password)

    async def work() -> int:
        if await User.exists().where(User.handle == handle):
            raise _handle_taken()
        try:
            rows = await User.insert(
                User(
                    handle=handle,
                    display_name=name,
                    password_hash=password_hash,
                    birth_date=born,
                    show_on_leaderboards=True,
                    frozen=False,
                    frozen_reason="",
                    created_at=utcnow(),
                )
            ).returning(User.id)
        except Exception as error:
            if is_unique_violation(error):
                raise _handle_taken() from error
            raise
        user_id = rows[0]["id"]
        await ledger.open_user_accounts(user_id)
        return user_id

    user_id = await in_transaction(work)
    return await get_user(user_id)


def _handle_taken() -> DomainError:
    return DomainError(ErrorCode.HANDLE_TAKEN, "That handle is taken.", "handle")


async def log_in(
    *, handle: str, password: str, throttle: SignInThrottle | None = None, ip: str | None = None
) -> UserRecord:
    """One error for an unknown handle and a wrong password, so handles cannot be probed.

    ``throttle`` counts the attempt (per ``ip`` and per handle) before the password is
    read, and slows the handle down after repeated failures.
    """
    handle = normalize_handle(handle)
    attempt = await throttle.admit("user", handle=handle, ip=ip) if throttle else None
    row = await User.select(User.id, User.password_hash).where(User.handle == handle).first()
    if not await verify_password(row["password_hash"] if row else None, password) or row is None:
        if throttle is not None and attempt is not None:
            await throttle.failed(attempt)
        raise DomainError(ErrorCode.INVALID_CREDENTIALS, "Wrong handle or password.")
    if throttle is not None and attempt is not None:
        await throttle.succeeded(attempt)
    return await get_user(row["id"])


async def get_user(user_id: int) -> UserRecord:
    users = await users_by_ids([user_id])
    if user_id not in users:
        raise DomainError(ErrorCode.NOT_FOUND, "No such user.")
    return users[user_id]


async def users_by_ids(user_ids: Sequence[int]) -> dict[int, UserRecord]:
    if not user_ids:
        return {}
    rows = await User.select(*_COLUMNS).where(User.id.is_in(list(set(user_ids))))
    return {row["id"]: _record(row) for row in rows}


async def find_by_handle(handle: str) -> UserRecord | None:
    row = await User.select(*_COLUMNS).where(User.handle == normalize_handle(handle)).first()
    return _record(row) if row else None


async def set_leaderboard_visibility(user_id: int, show: bool) -> UserRecord:
    """Opted-out users appear on leaderboards and gift feeds as anonymous."""
    await get_user(user_id)
    await User.update({User.show_on_leaderboards: show}).where(User.id == user_id)
    return await get_user(user_id)


def require_can_transact(user: UserRecord) -> UserRecord:
    """Buying, sending, going live, redeeming and cashing out are for adults in good standing.

    Call it inside the operation's transaction with a freshly read ``UserRecord``, so a
    freeze that commits first is honoured.
    """
    if not user.is_adult:
        raise DomainError(ErrorCode.AGE_RESTRICTED, "You must be 18 or older to do this.")
    if user.frozen:
        raise DomainError(
            ErrorCode.ACCOUNT_FROZEN, "This account is frozen pending review; contact support."
        )
    return user


@dataclass(frozen=True, slots=True)
class AccountFrozen:
    """Emitted once a freeze commits: the app ends the user's live streams (``app.wiring``)."""

    user_id: int


async def set_frozen(user_id: int, *, frozen: bool, reason: str, actor: Actor) -> UserRecord:
    """Freeze or unfreeze an account (a moderator's action); balances stay untouched.

    A freeze is heard after commit (``AccountFrozen``): the user's live streams end."""
    reason = reason.strip()
    if not reason:
        raise DomainError(ErrorCode.INVALID_INPUT, "Say why.", "reason")

    async def work() -> None:
        before = await get_user(user_id)
        if before.frozen == frozen:
            return
        await User.update(
            {User.frozen: frozen, User.frozen_reason: reason if frozen else ""}
        ).where(User.id == user_id)
        if frozen:
            emit(AccountFrozen(user_id))
        await audit.record(
            actor,
            "user.freeze" if frozen else "user.unfreeze",
            target_type="user",
            target_id=user_id,
            before={"frozen": before.frozen},
            after={"frozen": frozen},
            reason=reason,
        )

    await in_transaction(work)
    return await get_user(user_id)


async def search_users(query: str, *, limit: int, after_id: int | None = None) -> list[UserRecord]:
    """Handles containing ``query``, oldest account first, ``limit`` at most."""
    select = User.select(*_COLUMNS)
    if query.strip():
        select = select.where(User.handle.like(f"%{normalize_handle(query)}%"))
    if after_id is not None:
        select = select.where(User.id > after_id)
    rows = await select.order_by(User.id).limit(limit)
    return [_record(row) for row in rows]

"""Staff accounts, sign-in with lockout, and server-side admin sessions.

A session cookie carries a random secret; only its SHA-256 is stored, so a leaked table
cannot be replayed. Every sign-in starts a new session (the old id is never reused), and
a session idle for longer than the timeout is gone.
"""

from __future__ import annotations

import enum
import hashlib
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from app.audit import service as audit
from app.audit.service import Actor
from app.core.clock import as_utc, utcnow
from app.core.database import is_unique_violation
from app.core.errors import DomainError, ErrorCode
from app.core.transactions import in_transaction
from app.sign_in import SignInThrottle
from app.staff.tables import StaffSession, StaffUser
from app.users.passwords import hash_password, verify_password
from app.users.service import validate_display_name, validate_handle, validate_password

MAX_FAILED_SIGN_INS = 5
LOCKOUT = timedelta(minutes=15)
IDLE_TIMEOUT = timedelta(minutes=30)
TOUCH_EVERY = timedelta(seconds=60)


class Role(enum.StrEnum):
    """ADMIN may do everything; the others only their own area. Deny by default."""

    ADMIN = "ADMIN"
    CATALOG = "CATALOG"
    MODERATOR = "MODERATOR"
    FINANCE = "FINANCE"


@dataclass(frozen=True, slots=True)
class StaffRecord:
    id: int
    handle: str
    display_name: str
    role: Role

    @property
    def actor(self) -> Actor:
        return Actor(staff_id=self.id, handle=self.handle, role=self.role.value)

    def may(self, *roles: Role) -> bool:
        return self.role is Role.ADMIN or self.role in roles


def _record(row: dict) -> StaffRecord:
    return StaffRecord(row["id"], row["handle"], row["display_name"], Role(row["role"]))


async def create_staff(
    handle: str, password: str, role: str, display_name: str | None = None
) -> StaffRecord:
    handle = validate_handle(handle)
    validate_password(password)
    try:
        role_value = Role(role.upper())
    except ValueError:
        raise DomainError(
            ErrorCode.INVALID_INPUT, f"Role is one of {', '.join(Role)}.", "role"
        ) from None
    name = validate_display_name(display_name, handle)
    password_hash = await hash_password(password)

    async def work() -> int:
        try:
            rows = await StaffUser.insert(
                StaffUser(
                    handle=handle,
                    display_name=name,
                    password_hash=password_hash,
                    role=role_value.value,
                    failed_sign_ins=0,
                    created_at=utcnow(),
                )
            ).returning(StaffUser.id)
        except Exception as error:
            if is_unique_violation(error):
                raise DomainError(
                    ErrorCode.HANDLE_TAKEN, "That handle is taken.", "handle"
                ) from error
            raise
        return rows[0]["id"]

    staff_id = await in_transaction(work)
    return StaffRecord(staff_id, handle, name, role_value)


@dataclass(frozen=True, slots=True)
class _Claim:
    """One sign-in attempt, counted before its password is checked."""

    row: dict | None  # the staff row when the attempt may check a password
    attempt: int = 0
    locked_until: datetime | None = None


async def _claim_attempt(handle: str) -> _Claim:
    """Count the attempt first, in one UPDATE ... RETURNING on the staff row, then decide.

    Counting after the check let concurrent sign-ins all pass a lock that the first
    failures had not yet set (121 at once checked 28 passwords): now the row lock orders
    the attempts, the ``MAX_FAILED_SIGN_INS``-th claims the lock with itself, and every
    later one is refused without its password being read.
    """

    async def work() -> _Claim:
        now = utcnow()
        rows = await StaffUser.raw(
            "UPDATE staff_user SET failed_sign_ins = CASE WHEN failed_sign_ins > {} "
            "THEN failed_sign_ins ELSE failed_sign_ins + 1 END WHERE handle = {} "
            "RETURNING id, handle, display_name, role, password_hash, failed_sign_ins, "
            "locked_until",
            MAX_FAILED_SIGN_INS,
            handle,
        )
        if not rows:
            return _Claim(None)
        row = rows[0]
        attempt = row["failed_sign_ins"]
        locked_until = as_utc(row["locked_until"]) if row["locked_until"] is not None else None
        if locked_until is not None and locked_until <= now:  # served its time: start over
            attempt, locked_until = 1, None
            await _set_counts(row["id"], attempt, None)
        if attempt > MAX_FAILED_SIGN_INS:
            if locked_until is None:  # a count left over without its lock
                locked_until = now + LOCKOUT
                await _set_counts(row["id"], attempt, locked_until)
            return _Claim(None, attempt, locked_until)
        if attempt == MAX_FAILED_SIGN_INS:  # the last attempt locks the door behind it
            await _set_counts(row["id"], attempt, now + LOCKOUT)
        return _Claim(row, attempt)

    return await in_transaction(work)


async def _set_counts(staff_id: int, failed: int, locked_until: datetime | None) -> None:
    await StaffUser.update(
        {StaffUser.failed_sign_ins: failed, StaffUser.locked_until: locked_until}
    ).where(StaffUser.id == staff_id)


async def authenticate(
    handle: str, password: str, throttle: SignInThrottle | None = None, ip: str | None = None
) -> StaffRecord:
    """Check a password; five misses in a row lock the account for fifteen minutes, and no
    more than five passwords are ever checked, however many sign-ins arrive at once.

    ``throttle`` adds the limits every sign-in has (per ``ip``, per handle, a growing wait).
    """
    handle = handle.strip().lower()
    attempt = await throttle.admit("staff", handle=handle, ip=ip) if throttle else None
    claim = await _claim_attempt(handle)
    if claim.locked_until is not None:
        minutes = max(1, math.ceil((claim.locked_until - utcnow()).total_seconds() / 60))
        raise DomainError(
            ErrorCode.RATE_LIMITED,
            f"Too many failed sign-ins. Try again in {minutes} minute(s).",
        )
    row = claim.row
    if not await verify_password(row["password_hash"] if row else None, password) or row is None:
        if row is not None and claim.attempt == MAX_FAILED_SIGN_INS:
            await _record_lockout(row)
        if throttle is not None and attempt is not None:
            await throttle.failed(attempt)
        raise DomainError(ErrorCode.INVALID_CREDENTIALS, "Wrong handle or password.")
    await _set_counts(row["id"], 0, None)
    if throttle is not None and attempt is not None:
        await throttle.succeeded(attempt)
    return _record(row)


async def _record_lockout(row: dict) -> None:
    async def work() -> None:
        await audit.record(
            Actor(row["id"], row["handle"], row["role"]),
            "staff.locked_out",
            target_type="staff",
            target_id=row["id"],
            after={"failed_sign_ins": MAX_FAILED_SIGN_INS},
            reason=f"{MAX_FAILED_SIGN_INS} failed sign-ins",
        )

    await in_transaction(work)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def start_session(staff: StaffRecord, previous_token: str | None = None) -> str:
    """A fresh session id for a sign-in; the browser's previous session, if any, ends."""
    token = secrets.token_urlsafe(32)
    now = utcnow()

    async def work() -> None:
        if previous_token:
            await StaffSession.delete().where(StaffSession.token_hash == _hash(previous_token))
        await StaffSession.insert(
            StaffSession(
                token_hash=_hash(token), staff_id=staff.id, created_at=now, last_seen_at=now
            )
        )
        await audit.record(staff.actor, "staff.sign_in", target_type="staff", target_id=staff.id)

    await in_transaction(work)
    return token


async def end_session(token: str) -> None:
    async def work() -> None:
        row = (
            await StaffSession.select(StaffSession.staff_id)
            .where(StaffSession.token_hash == _hash(token))
            .first()
        )
        if row is None:
            return
        await StaffSession.delete().where(StaffSession.token_hash == _hash(token))
        staff = await get_staff(row["staff_id"])
        await audit.record(staff.actor, "staff.sign_out", target_type="staff", target_id=staff.id)

    await in_transaction(work)


async def staff_for_session(
    token: str, idle_timeout: timedelta = IDLE_TIMEOUT
) -> StaffRecord | None:
    """The staff member a session cookie belongs to, or None when it is unknown or idle."""
    row = (
        await StaffSession.select(StaffSession.id, StaffSession.staff_id, StaffSession.last_seen_at)
        .where(StaffSession.token_hash == _hash(token))
        .first()
    )
    if row is None:
        return None
    now = utcnow()
    last_seen: datetime = as_utc(row["last_seen_at"])
    if now - last_seen > idle_timeout:
        await StaffSession.delete().where(StaffSession.id == row["id"])
        return None
    if now - last_seen > TOUCH_EVERY:
        await StaffSession.update({StaffSession.last_seen_at: now}).where(
            StaffSession.id == row["id"]
        )
    return await get_staff(row["staff_id"])


async def staff_exists(handle: str) -> bool:
    return await StaffUser.exists().where(StaffUser.handle == handle)


async def get_staff(staff_id: int) -> StaffRecord:
    row = await StaffUser.select().where(StaffUser.id == staff_id).first()
    if row is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such staff member.")
    return _record(row)

"""``coins seed``: demo data for development. Safe to run again; it only adds what is missing."""

from __future__ import annotations

from dataclasses import dataclass

from app.ledger import service as ledger
from app.ledger.codes import AccountCode, Currency, TransferKind
from app.staff.service import create_staff
from app.staff.tables import StaffUser
from app.users import service as users

DEMO_PASSWORD = "coins-demo-password"  # noqa: S105 (development data, refused in production)
WELCOME_COINS = 1_000


@dataclass(frozen=True)
class DemoUser:
    handle: str
    display_name: str
    birth_date: str


DEMO_USERS = (
    DemoUser("viewer", "Vera Viewer", "1995-05-17"),
    DemoUser("minor", "Milo Minor", "2012-03-02"),
    DemoUser("creator_ana", "Ana Creates", "1992-08-09"),
    DemoUser("creator_ben", "Ben Live", "1989-11-30"),
)


DEMO_STAFF = (
    ("admin", "ADMIN"),
    ("catalog", "CATALOG"),
    ("moderator", "MODERATOR"),
    ("finance", "FINANCE"),
)


async def seed() -> list[str]:
    """Create what is missing and say what was done, line by line."""
    done: list[str] = []
    for handle, role in DEMO_STAFF:
        if not await StaffUser.exists().where(StaffUser.handle == handle):
            await create_staff(handle, DEMO_PASSWORD, role, f"Demo {role.lower()}")
            done.append(f"staff {handle} ({role}) for /admin")
    for demo in DEMO_USERS:
        if await users.find_by_handle(demo.handle) is None:
            await users.sign_up(
                handle=demo.handle,
                password=DEMO_PASSWORD,
                birth_date=demo.birth_date,
                display_name=demo.display_name,
            )
            done.append(f"user {demo.handle} (password {DEMO_PASSWORD!r})")
    viewer = await users.find_by_handle("viewer")
    assert viewer is not None
    result = await ledger.transfer(
        TransferKind.ADJUSTMENT,
        debit_account_id=await ledger.system_account_id(AccountCode.COIN_ISSUANCE),
        credit_account_id=await ledger.user_account_id(viewer.id, Currency.COIN),
        amount=WELCOME_COINS,
        user_id=viewer.id,
        idempotency_key="seed-welcome-coins",
        description="Welcome coins for the demo viewer",
    )
    if not result.replayed:
        done.append(f"{WELCOME_COINS} welcome coins for viewer")
    return done

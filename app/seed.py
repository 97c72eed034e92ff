"""``coins seed``: demo data for development. Safe to run again; it only adds what is missing."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from app.gifts import catalog
from app.ledger import service as ledger
from app.ledger.codes import AccountCode, Currency, TransferKind
from app.offers import service as offers
from app.streams import service as streams
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


async def seed(creator_share: Fraction = Fraction(1, 2)) -> list[str]:
    """Create what is missing and say what was done, line by line."""
    done: list[str] = []
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
    done += await seed_catalog(creator_share)
    done += await seed_demo_stream()
    done += await seed_demo_offer()
    return done


# The demo catalog from DESIGN.md: (slug, name, coins).
DEMO_GIFTS = (
    ("rose", "Rose", 1),
    ("finger-heart", "Finger Heart", 5),
    ("doughnut", "Doughnut", 30),
    ("hand-hearts", "Hand Hearts", 100),
    ("disco-ball", "Disco Ball", 1_000),
    ("yacht", "Yacht", 7_000),
    ("castle", "Castle", 20_000),
    ("lion", "Lion", 29_999),
    ("universe", "Universe", 44_999),
)


async def seed_catalog(creator_share: Fraction) -> list[str]:
    """Add the demo gifts that are missing; gifts already there keep their price."""
    done = []
    for slug, name, coins in DEMO_GIFTS:
        if await catalog.find_by_slug(slug) is None:
            await catalog.create_gift(
                slug=slug,
                name=name,
                coin_cost=coins,
                creator_share=creator_share,
                image_url=f"/static/gifts/{slug}.png",
            )
            done.append(f"gift {name} ({coins} coins)")
    return done


async def seed_demo_stream() -> list[str]:
    """A live stream by creator_ana, so the demo has somewhere to send gifts."""
    ana = await users.find_by_handle("creator_ana")
    assert ana is not None
    if (await streams.live_streams_of_hosts([ana.id])).get(ana.id) is not None:
        return []
    await streams.start_stream(ana.id, "Ana's demo stream")
    return ["live stream by creator_ana"]


async def seed_demo_offer() -> list[str]:
    """One partner offer with a few discount codes."""
    if any(offer.brand == "Bean There" for offer in (await offers.offers_by_ids()).values()):
        return []
    offer_id = await offers.create_offer(brand="Bean There", title="A free coffee", coin_cost=350)
    added = await offers.add_codes(offer_id, [f"BEAN-DEMO-{n:04d}" for n in range(1, 6)])
    return [f"partner offer Bean There with {added} codes"]

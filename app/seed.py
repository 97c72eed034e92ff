"""``coins seed``: demo data for development. Safe to run again; it only adds what is missing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction

from app import ledger
from app.core.clock import utcnow
from app.core.money import Money
from app.core.transactions import in_transaction
from app.gifts import catalog
from app.gifts.details import AvailabilityKind, GiftDetails
from app.ledger.codes import AccountCode, Currency, TransferKind
from app.offers import catalog as offers
from app.purchases import packages
from app.purchases.codes import Platform
from app.staff.service import create_staff, staff_exists
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


DEMO_STAFF = (
    ("admin", "ADMIN"),
    ("catalog", "CATALOG"),
    ("moderator", "MODERATOR"),
    ("finance", "FINANCE"),
)


async def seed(creator_share: Fraction = Fraction(1, 2)) -> list[str]:
    """Create what is missing and say what was done, line by line."""
    done: list[str] = []
    for handle, role in DEMO_STAFF:
        if not await staff_exists(handle):
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
        debit_account_id=await ledger.system_account_id(AccountCode.COIN_ISSUANCE, viewer.id),
        credit_account_id=await ledger.user_account_id(viewer.id, Currency.COIN),
        amount=WELCOME_COINS,
        user_id=viewer.id,
        idempotency_key="seed-welcome-coins",
        description="Welcome coins for the demo viewer",
    )
    if not result.replayed:
        done.append(f"{WELCOME_COINS} welcome coins for viewer")
    done += await seed_coin_packages()
    done += await seed_catalog(creator_share)
    done += await seed_demo_stream()
    done += await seed_demo_offer()
    return done


# The demo catalog from DESIGN.md: (slug, name, coins, category, tier). The sort order
# puts everyday gifts first; no artwork ships with the demo, so asset URLs stay null (a
# null beats a link that 404s) and nothing is animated.
DEMO_GIFTS = (
    ("rose", "Rose", 1, "classic", 1),
    ("finger-heart", "Finger Heart", 5, "love", 1),
    ("doughnut", "Doughnut", 30, "classic", 1),
    ("hand-hearts", "Hand Hearts", 100, "love", 2),
    ("disco-ball", "Disco Ball", 1_000, "party", 3),
    ("yacht", "Yacht", 7_000, "luxury", 4),
    ("castle", "Castle", 20_000, "luxury", 4),
    ("lion", "Lion", 29_999, "luxury", 5),
    ("universe", "Universe", 44_999, "luxury", 5),
)
SEASONAL_GIFT = ("snowman", "Snowman", 99)


def winter_window(now: datetime) -> tuple[datetime, datetime]:
    """The next winter season that has not ended: 1 December to 7 January, UTC."""
    year = now.year - 1 if now < datetime(now.year, 1, 7, tzinfo=UTC) else now.year
    return datetime(year, 12, 1, tzinfo=UTC), datetime(year + 1, 1, 7, tzinfo=UTC)


async def seed_catalog(creator_share: Fraction) -> list[str]:
    """Add the demo gifts that are missing; gifts already there keep their price, and get
    their render data as a new version if they have none yet."""
    done = []
    for order, (slug, name, coins, category, tier) in enumerate(DEMO_GIFTS):
        details = GiftDetails(category=category, tier=tier, sort_order=order * 10)
        existing = await catalog.find_by_slug(slug)
        if existing is None:
            await catalog.create_gift(
                slug=slug, name=name, coin_cost=coins, creator_share=creator_share, details=details
            )
            done.append(f"gift {name} ({coins} coins)")
        elif existing.details == GiftDetails():
            await catalog.edit_gift(
                existing.id,
                name=existing.name,
                coin_cost=existing.coin_cost,
                diamond_value=existing.diamond_value,
                image_url=existing.image_url,
                creator_share=creator_share,
                details=details,
            )
            done.append(f"render data for {existing.name}")
    slug, name, coins = SEASONAL_GIFT
    if await catalog.find_by_slug(slug) is None:
        start, end = winter_window(utcnow())
        await catalog.create_gift(
            slug=slug,
            name=name,
            coin_cost=coins,
            creator_share=creator_share,
            details=GiftDetails(
                category="seasonal",
                tier=2,
                sort_order=5,
                availability_kind=AvailabilityKind.SEASONAL,
                available_from=start,
                available_until=end,
            ),
        )
        done.append(f"seasonal gift {name} ({coins} coins, {start:%Y-%m-%d} to {end:%Y-%m-%d})")
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


@dataclass(frozen=True)
class DemoPackage:
    """App-store prices in USD cents; the web sells the same coins for about 25% less."""

    coins: int
    bonus_coins: int
    store_usd: int
    web_usd: int
    store_gbp: int
    web_gbp: int
    store_jpy: int
    web_jpy: int


DEMO_PACKAGES = (
    DemoPackage(70, 0, 99, 74, 99, 74, 160, 120),
    DemoPackage(350, 0, 499, 374, 499, 374, 800, 600),
    DemoPackage(700, 0, 999, 749, 999, 749, 1_600, 1_200),
    DemoPackage(1_400, 0, 1_999, 1_499, 1_999, 1_499, 3_200, 2_400),
    DemoPackage(3_500, 100, 4_999, 3_749, 4_999, 3_749, 8_000, 6_000),
    DemoPackage(7_000, 350, 9_999, 7_499, 9_999, 7_499, 16_000, 12_000),
    DemoPackage(17_500, 1_000, 24_999, 18_749, 24_999, 18_749, 40_000, 30_000),
)


async def seed_coin_packages() -> list[str]:
    """The demo packages on every platform, once: web about 25% below the app stores."""
    done: list[str] = []
    for platform in Platform:
        if await packages.list_packages(platform):
            continue
        await in_transaction(lambda platform=platform: _seed_platform(platform))
        done.append(f"{len(DEMO_PACKAGES)} coin packages on {platform.value}")
    return done


async def _seed_platform(platform: Platform) -> None:
    web = platform is Platform.WEB
    for demo in DEMO_PACKAGES:
        await packages.create_package(
            platform=platform,
            coins=demo.coins,
            bonus_coins=demo.bonus_coins,
            price=Money(demo.web_usd if web else demo.store_usd, "USD"),
            product_id="" if web else f"coins.{demo.coins}",
            country_prices={
                "GB": Money(demo.web_gbp if web else demo.store_gbp, "GBP"),
                "JP": Money(demo.web_jpy if web else demo.store_jpy, "JPY"),
            },
        )

"""Purchases tests: settings that trust the tests' own Apple chain and Stripe secret."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.core.money import Money
from app.purchases.codes import Platform
from app.purchases.packages import PackageRecord, create_package
from app.settings import PaymentSettings, Settings
from tests.conftest import Database
from tests.purchases.fake_stripe import STRIPE_API_KEY, FakeStripe, serve
from tests.purchases.signing import BUNDLE_ID, STRIPE_SECRET, AppleSigner


@pytest.fixture(scope="session")
def apple() -> AppleSigner:
    return AppleSigner.create()


@pytest.fixture(scope="session")
def _fake_stripe_server() -> Iterator[FakeStripe]:
    yield from serve()


@pytest.fixture
def fake_stripe(_fake_stripe_server: FakeStripe) -> FakeStripe:
    """Stripe's API on a local port, empty for each test; the app's ``stripe`` calls go here."""
    _fake_stripe_server.reset()
    return _fake_stripe_server


@pytest.fixture
def settings(db: Database, apple: AppleSigner, fake_stripe: FakeStripe) -> Settings:
    return db.settings(
        payments=PaymentSettings(
            apple_bundle_id=BUNDLE_ID,
            apple_environment="Sandbox",
            apple_root_certificates=(apple.root_der,),
            stripe_webhook_secret=STRIPE_SECRET,
            stripe_secret_key=STRIPE_API_KEY,
            stripe_api_base=fake_stripe.url,
        )
    )


class Packages:
    web: PackageRecord
    web_big: PackageRecord
    ios: PackageRecord
    android: PackageRecord


@pytest.fixture
async def packages(db: Database) -> Packages:
    found = Packages()
    found.web = await create_package(
        platform=Platform.WEB,
        coins=70,
        price=Money(74, "USD"),
        country_prices={"GB": Money(69, "GBP")},
    )
    found.web_big = await create_package(
        platform=Platform.WEB, coins=700, bonus_coins=50, price=Money(749, "USD")
    )
    found.ios = await create_package(
        platform=Platform.IOS, coins=70, price=Money(99, "USD"), product_id="coins.70"
    )
    found.android = await create_package(
        platform=Platform.ANDROID, coins=70, price=Money(99, "USD"), product_id="coins.70"
    )
    return found

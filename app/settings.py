"""One Settings object, read from the environment (``COINS_*``) once and handed to the app.

Tests build their own ``Settings`` instead of patching globals.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from pathlib import Path

from app.core.money import Rate, minor_unit_exponent

ENVIRONMENTS = ("development", "test", "production")
DEVELOPMENT_JWT_SECRET = "development-only-secret-change-me-0123456789"  # noqa: S105
DEFAULT_SQLITE_PATH = "var/coins.sqlite3"


class SettingsError(RuntimeError):
    """The environment does not describe a service we can start safely."""


@dataclass(frozen=True)
class DatabaseSettings:
    """``url`` is ``postgresql://...`` or ``sqlite:///path`` (a bare path means SQLite too)."""

    url: str = f"sqlite:///{DEFAULT_SQLITE_PATH}"
    pool_max_size: int = 10
    retry_attempts: int = 8

    @property
    def is_postgres(self) -> bool:
        return self.url.startswith(("postgres://", "postgresql://"))

    @property
    def sqlite_path(self) -> Path:
        if self.is_postgres:
            raise SettingsError("not a SQLite database")
        return Path(self.url.removeprefix("sqlite:///").removeprefix("sqlite://"))


@dataclass(frozen=True)
class AuthSettings:
    jwt_secret: str = DEVELOPMENT_JWT_SECRET
    token_ttl_s: int = 7 * 24 * 3600


@dataclass(frozen=True)
class EconomySettings:
    """The published rates (``economy`` query). Shares are exact fractions, never floats."""

    creator_share: Fraction = Fraction(1, 2)
    diamond_value: Rate = field(default_factory=lambda: Rate(1, 2, "USD"))
    minimum_payout_diamonds: int = 2_000
    maximum_daily_payout_diamonds: int = 200_000


@dataclass(frozen=True)
class PayoutSettings:
    """Payout approval policy. Auto-approval is off unless switched on explicitly.

    When on, a payout of at most ``auto_approve_max_diamonds`` from an adult, unfrozen
    creator without an open fraud flag whose account is at least
    ``auto_approve_min_account_age_days`` old is approved and paid right after the request.
    """

    auto_approve: bool = False
    auto_approve_max_diamonds: int = 10_000
    auto_approve_min_account_age_days: int = 30


@dataclass(frozen=True)
class SpendingSettings:
    """Platform limits on spending coins (gifts and offers)."""

    max_gift_quantity: int = 99
    # Accounts younger than this may spend at most ``new_account_daily_coins`` a UTC day.
    new_account_days: int = 7
    new_account_daily_coins: int = 50_000
    # A raised or removed limit of the user's own waits this long.
    limit_raise_delay_s: int = 24 * 3600
    combo_window_s: int = 10


@dataclass(frozen=True)
class FraudSettings:
    """Thresholds of the fraud rules (``app.fraud.rules``); coins and diamonds are whole units."""

    # 1. An account younger than ``young_account_days`` spending more than this in an hour.
    young_account_days: int = 7
    young_account_hourly_coins: int = 5_000
    # 2. A gifts B and B gifts A, each more than this, within ``circular_window_s``.
    circular_min_coins: int = 1_000
    circular_window_s: int = 24 * 3600
    # 3. One sender gave more than this share of a creator's diamonds over the window, and
    #    the creator asks for a payout (ignored below ``concentration_min_diamonds``).
    concentration_percent: int = 80
    concentration_window_days: int = 7
    concentration_min_diamonds: int = 2_000
    # 5. At least this many accounts younger than ``young_account_days`` gift one creator
    #    within ``swarm_window_s``.
    swarm_min_senders: int = 5
    swarm_window_s: int = 3600


@dataclass(frozen=True)
class GraphQLSettings:
    max_depth: int = 12
    max_aliases: int = 30
    max_tokens: int = 2_000
    max_page_size: int = 100


@dataclass(frozen=True)
class PaymentSettings:
    """Payment providers. A provider without its configuration refuses every receipt.

    SANDBOX receipts follow ``Settings.sandbox_payments`` (off in production).
    ``apple_root_certificates`` are DER bytes of the trusted roots (Apple's in production,
    a test chain in tests); ``apple_environment`` is ``Sandbox`` or ``Production``.
    """

    apple_bundle_id: str = ""
    apple_environment: str = "Sandbox"
    apple_app_apple_id: int | None = None
    apple_root_certificates: tuple[bytes, ...] = ()
    stripe_webhook_secret: str = ""
    stripe_tolerance_s: int = 300


@dataclass(frozen=True)
class Settings:
    env: str = "development"
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    auth: AuthSettings = field(default_factory=AuthSettings)
    economy: EconomySettings = field(default_factory=EconomySettings)
    payouts: PayoutSettings = field(default_factory=PayoutSettings)
    graphql: GraphQLSettings = field(default_factory=GraphQLSettings)
    spending: SpendingSettings = field(default_factory=SpendingSettings)
    fraud: FraudSettings = field(default_factory=FraudSettings)
    sandbox_payments: bool = True
    payments: PaymentSettings = field(default_factory=PaymentSettings)
    redis_url: str | None = None
    # Prefix of the Redis pub/sub channels of the live feed (one per stream).
    redis_channel_prefix: str = "coins"

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def secure_cookies(self) -> bool:
        """Cookies need HTTPS everywhere but on a developer's or a test's plain-HTTP server."""
        return self.env not in ("development", "test")

    @property
    def csrf_secret(self) -> str:
        """Derived from the one signing secret, so there is a single secret to manage."""
        return hmac.new(self.auth.jwt_secret.encode(), b"coins-admin-csrf", "sha256").hexdigest()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = dict(os.environ if environ is None else environ)
        name = env.get("COINS_ENV", "development")
        if name not in ENVIRONMENTS:
            raise SettingsError(f"COINS_ENV must be one of {', '.join(ENVIRONMENTS)}, not {name!r}")
        production = name == "production"

        secret = env.get("COINS_JWT_SECRET", "")
        if not secret:
            if production:
                raise SettingsError(
                    "COINS_JWT_SECRET is not set: production refuses to start without a secret "
                    "of at least 32 characters to sign bearer tokens."
                )
            secret = DEVELOPMENT_JWT_SECRET
        if production and len(secret) < 32:
            raise SettingsError("COINS_JWT_SECRET must be at least 32 characters in production.")

        return cls(
            env=name,
            database=DatabaseSettings(
                url=env.get("COINS_DATABASE_URL", f"sqlite:///{DEFAULT_SQLITE_PATH}"),
                pool_max_size=_int(env, "COINS_DATABASE_POOL_MAX_SIZE", 10),
            ),
            auth=AuthSettings(
                jwt_secret=secret, token_ttl_s=_int(env, "COINS_TOKEN_TTL_S", 7 * 24 * 3600)
            ),
            economy=EconomySettings(
                creator_share=_fraction(env, "COINS_CREATOR_SHARE", "0.5"),
                diamond_value=_rate(
                    env.get("COINS_DIAMOND_VALUE", "0.005"),
                    env.get("COINS_PAYOUT_CURRENCY", "USD"),
                ),
                minimum_payout_diamonds=_int(env, "COINS_MINIMUM_PAYOUT_DIAMONDS", 2_000),
                maximum_daily_payout_diamonds=_int(
                    env, "COINS_MAXIMUM_DAILY_PAYOUT_DIAMONDS", 200_000
                ),
            ),
            payouts=PayoutSettings(
                auto_approve=_bool(env, "COINS_PAYOUT_AUTO_APPROVE", default=False),
                auto_approve_max_diamonds=_int(
                    env, "COINS_PAYOUT_AUTO_APPROVE_MAX_DIAMONDS", 10_000
                ),
                auto_approve_min_account_age_days=_int(
                    env, "COINS_PAYOUT_AUTO_APPROVE_MIN_ACCOUNT_AGE_DAYS", 30
                ),
            ),
            spending=SpendingSettings(
                new_account_days=_int(env, "COINS_NEW_ACCOUNT_DAYS", 7),
                new_account_daily_coins=_int(env, "COINS_NEW_ACCOUNT_DAILY_COINS", 50_000),
            ),
            fraud=FraudSettings(
                young_account_hourly_coins=_int(
                    env, "COINS_FRAUD_YOUNG_ACCOUNT_HOURLY_COINS", 5_000
                ),
                circular_min_coins=_int(env, "COINS_FRAUD_CIRCULAR_MIN_COINS", 1_000),
                concentration_percent=_int(env, "COINS_FRAUD_CONCENTRATION_PERCENT", 80),
                concentration_min_diamonds=_int(
                    env, "COINS_FRAUD_CONCENTRATION_MIN_DIAMONDS", 2_000
                ),
                swarm_min_senders=_int(env, "COINS_FRAUD_SWARM_MIN_SENDERS", 5),
            ),
            sandbox_payments=_bool(env, "COINS_SANDBOX_PAYMENTS", default=not production),
            payments=PaymentSettings(
                apple_bundle_id=env.get("COINS_APPLE_BUNDLE_ID", ""),
                apple_environment=env.get("COINS_APPLE_ENVIRONMENT", "Sandbox"),
                apple_app_apple_id=_int(env, "COINS_APPLE_APP_APPLE_ID", 0) or None,
                apple_root_certificates=_certificates(env.get("COINS_APPLE_ROOT_CERTIFICATES", "")),
                stripe_webhook_secret=env.get("COINS_STRIPE_WEBHOOK_SECRET", ""),
            ),
            redis_url=env.get("COINS_REDIS_URL") or None,
            redis_channel_prefix=env.get("COINS_REDIS_CHANNEL_PREFIX") or "coins",
        )


def _certificates(paths: str) -> tuple[bytes, ...]:
    """Comma-separated paths of PEM or DER certificates, as DER bytes."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    found: list[bytes] = []
    for raw in filter(None, (p.strip() for p in paths.split(","))):
        try:
            data = Path(raw).read_bytes()
        except OSError as error:
            raise SettingsError(
                f"COINS_APPLE_ROOT_CERTIFICATES: cannot read {raw}: {error}"
            ) from None
        if b"-----BEGIN CERTIFICATE-----" in data:
            found += [c.public_bytes(Encoding.DER) for c in x509.load_pem_x509_certificates(data)]
        else:
            found.append(data)
    return tuple(found)


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, not {raw!r}") from None


def _bool(env: Mapping[str, str], name: str, *, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name} must be true or false, not {raw!r}")


def _fraction(env: Mapping[str, str], name: str, default: str) -> Fraction:
    raw = env.get(name) or default
    try:
        value = Fraction(Decimal(raw))
    except (InvalidOperation, ValueError):
        raise SettingsError(f"{name} must be a decimal number, not {raw!r}") from None
    if not 0 <= value <= 1:
        raise SettingsError(f"{name} must be between 0 and 1")
    return value


def _rate(raw: str, currency: str) -> Rate:
    """'0.005' USD per diamond becomes 1/2 cent: exact, whatever the digits."""
    try:
        per_unit = Fraction(Decimal(raw)) * 10 ** minor_unit_exponent(currency)
    except (InvalidOperation, ValueError):
        raise SettingsError(f"COINS_DIAMOND_VALUE must be a decimal number, not {raw!r}") from None
    return Rate(per_unit.numerator, per_unit.denominator, currency.upper())

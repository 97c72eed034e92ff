"""One Settings object, read from the environment (``COINS_*``) once and handed to the app.

Each setting is declared once, as a dataclass field made by ``setting``: its default, the
variable that sets it and the parser of that variable's text. ``Settings.from_env`` walks
the fields; tests build their own ``Settings`` instead of patching globals. An unset or
empty variable leaves the default.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, is_dataclass, replace
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal, TypeVar

from limits import RateLimitItem, parse_many

from app.core.money import Rate, minor_unit_exponent

ENVIRONMENTS = ("development", "test", "production")
SETTLERS = ("app", "process", "external")
DEVELOPMENT_JWT_SECRET = "development-only-secret-change-me-0123456789"  # noqa: S105
DEFAULT_SQLITE_PATH = "var/coins.sqlite3"
DEVELOPMENT_SECRET_FILE = "jwt-secret"  # noqa: S105 (a file name)
# Where a web app under development is usually served from.
DEVELOPMENT_CORS_ORIGINS = (
    "http://localhost:3000",
    "http://127.0.0.1:3000",
    "http://localhost:5173",
    "http://127.0.0.1:5173",
)

D = TypeVar("D")


class SettingsError(RuntimeError):
    """The environment does not describe a service we can start safely."""


def _whole_number(minimum: int = 0) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value: int | None = int(raw)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise ValueError(f"must be a whole number ({minimum} or more), not {raw!r}")
        return value

    return parse


def _switch(raw: str) -> bool:
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"must be true or false, not {raw!r}")


def _share(raw: str) -> Fraction:
    """'0.55' is exactly 11/20: never through a float."""
    try:
        value = Fraction(Decimal(raw))
    except (InvalidOperation, ValueError):
        raise ValueError(f"must be a decimal number, not {raw!r}") from None
    if not 0 <= value <= 1:
        raise ValueError(f"must be between 0 and 1, not {raw!r}")
    return value


def _rate(value: str, currency: str) -> Rate:
    """'0.005' USD per diamond becomes 1/2 cent: exact, whatever the digits."""
    code = currency.strip().upper()
    try:
        per_unit: Fraction | None = Fraction(Decimal(value)) * 10 ** minor_unit_exponent(code)
    except (InvalidOperation, ValueError):
        per_unit = None
    if per_unit is None or per_unit < 0 or len(code) != 3 or not code.isalpha():
        raise ValueError(
            f"must be a decimal number and a 3-letter currency code, not {value!r} and {currency!r}"
        )
    return Rate(per_unit.numerator, per_unit.denominator, code)


def _certificates(paths: str) -> tuple[bytes, ...]:
    """Comma-separated paths of PEM or DER certificates, as DER bytes."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    found: list[bytes] = []
    for raw in filter(None, (p.strip() for p in paths.split(","))):
        try:
            data = Path(raw).read_bytes()
        except OSError as error:
            raise ValueError(f"cannot read {raw}: {error}") from None
        if b"-----BEGIN CERTIFICATE-----" in data:
            found += [c.public_bytes(Encoding.DER) for c in x509.load_pem_x509_certificates(data)]
        else:
            found.append(data)
    return tuple(found)


def _service_account(raw: str) -> str:
    """A Google service-account key: its JSON text, or the path of a file holding it."""
    import json

    text = raw.strip()
    if not text.startswith("{"):
        try:
            text = Path(text).read_text()
        except OSError as error:
            raise ValueError(f"cannot read {raw}: {error}") from None
    try:
        info = json.loads(text)
    except ValueError:
        raise ValueError("must be a service-account key (JSON) or the path of one") from None
    missing = {"client_email", "private_key", "token_uri"} - set(
        info if isinstance(info, dict) else ()
    )
    if missing:
        raise ValueError(f"the service-account key lacks {', '.join(sorted(missing))}")
    return text


def _rate_limits(raw: str) -> tuple[RateLimitItem, ...]:
    """``limits``' notation: '30/minute;300/hour' is two limits, each must hold."""
    try:
        return tuple(parse_many(raw))
    except ValueError:
        raise ValueError(f"must be limits like '10/minute;100/hour', not {raw!r}") from None


IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _networks(raw: str) -> tuple[IPNetwork, ...]:
    """Comma-separated addresses or CIDR blocks ('10.0.0.0/8, 127.0.0.1')."""
    try:
        return tuple(
            ipaddress.ip_network(part.strip(), strict=False)
            for part in raw.split(",")
            if part.strip()
        )
    except ValueError:
        raise ValueError(f"must be IP addresses or CIDR blocks, not {raw!r}") from None


_PARSERS: dict[type, Callable[[str], Any]] = {int: _whole_number(), bool: _switch, str: str}


@dataclass(frozen=True)
class Variable:
    """How the environment sets one field: ``parse`` takes one text per name."""

    names: tuple[str, ...]
    parse: Callable[..., Any]
    # Defaults as the environment would write them: what an unset name of several stands for.
    texts: tuple[str, ...] = ()


def setting(
    name: str | tuple[str, ...],
    default: Any,
    parse: Callable[..., Any] | None = None,
    *,
    secret: bool = False,
) -> Any:
    """A field set by the variable ``name``, parsed as the default's type unless ``parse``.

    A field set by several variables gives its default as their texts, parsed like them.
    A ``secret`` stays out of the settings' repr (logs, tracebacks).
    """
    if isinstance(name, str):
        variable = Variable((name,), parse or _PARSERS[type(default)])
    else:
        assert parse is not None, "several variables need a parser"
        variable, default = Variable(name, parse, default), parse(*default)
    return field(default=default, metadata={"variable": variable}, repr=not secret)


def _read(cls: type[D], environ: Mapping[str, str]) -> D:
    """Build ``cls`` (a settings dataclass) from ``environ``, nested settings included."""
    values: dict[str, Any] = {}
    for f in fields(cls):
        if is_dataclass(f.default_factory):
            values[f.name] = _read(f.default_factory, environ)
            continue
        variable: Variable = f.metadata["variable"]
        raws = [environ.get(name) or None for name in variable.names]
        if not any(raws):
            continue
        # A variable left unset among several stands for its default text.
        texts = [raw or text for raw, text in zip(raws, variable.texts or raws, strict=True)]
        try:
            values[f.name] = variable.parse(*texts)
        except ValueError as error:
            raise SettingsError(f"{' and '.join(variable.names)} {error}") from None
    return cls(**values)


@dataclass(frozen=True)
class DatabaseSettings:
    """``url`` is ``postgresql://...`` or ``sqlite:///path`` (a bare path means SQLite too)."""

    url: str = setting("COINS_DATABASE_URL", f"sqlite:///{DEFAULT_SQLITE_PATH}")
    # PostgreSQL connections per process; 0 opens one per query.
    pool_max_size: int = setting("COINS_DATABASE_POOL_MAX_SIZE", 10)
    # How many times ``in_transaction`` runs a unit of work that meets transient conflicts.
    retry_attempts: int = setting("COINS_DATABASE_RETRY_ATTEMPTS", 8, _whole_number(1))

    @property
    def is_postgres(self) -> bool:
        return self.url.startswith(("postgres://", "postgresql://"))

    @property
    def sqlite_path(self) -> Path:
        if self.is_postgres:
            raise SettingsError("not a SQLite database")
        return Path(self.url.removeprefix("sqlite:///").removeprefix("sqlite://"))


@dataclass(frozen=True)
class LedgerSettings:
    # Accounts each busy system account (coin issuance, coin sink, diamond issuance) is split
    # into, by user: gifts from different people rarely meet on one lock. Raising it adds
    # shards at the next ``coins migrate``; shards are never removed.
    system_account_shards: int = setting("COINS_LEDGER_SHARDS", 32, _whole_number(1))


@dataclass(frozen=True)
class AuthSettings:
    jwt_secret: str = setting("COINS_JWT_SECRET", DEVELOPMENT_JWT_SECRET)
    token_ttl_s: int = setting("COINS_TOKEN_TTL_S", 7 * 24 * 3600)


@dataclass(frozen=True)
class SignInSettings:
    """Defences of ``logIn``, ``signUp`` and the admin sign-in (``app.sign_in``).

    Every attempt counts against its client IP's limits, and a sign-in against its handle's;
    after ``free_failures`` failures in a row a handle waits ``backoff_base_s``, doubling
    with each further failure up to ``backoff_max_s``, and failures are forgotten
    ``failure_memory_s`` after the first. An IP that signed in to a handle within
    ``known_ip_days`` has its own count, so strangers' guesses never lock the owner out.
    """

    # Password hashes run on this many threads; this many more may wait, the rest are refused.
    # One core fewer than the machine has: a flood of sign-ins keeps a core for everyone else.
    hash_threads: int = setting(
        "COINS_PASSWORD_HASH_THREADS", max(1, (os.cpu_count() or 2) - 1), _whole_number(1)
    )
    hash_queue: int = setting("COINS_PASSWORD_HASH_QUEUE", 64)
    ip_limits: tuple[RateLimitItem, ...] = setting(
        ("COINS_SIGN_IN_IP_LIMITS",), ("30/minute;300/hour",), _rate_limits
    )
    handle_limits: tuple[RateLimitItem, ...] = setting(
        ("COINS_SIGN_IN_HANDLE_LIMITS",), ("10/minute",), _rate_limits
    )
    free_failures: int = setting("COINS_SIGN_IN_FREE_FAILURES", 5)
    backoff_base_s: int = setting("COINS_SIGN_IN_BACKOFF_BASE_S", 5, _whole_number(1))
    backoff_max_s: int = setting("COINS_SIGN_IN_BACKOFF_MAX_S", 300, _whole_number(1))
    failure_memory_s: int = setting("COINS_SIGN_IN_FAILURE_MEMORY_S", 3600, _whole_number(1))
    known_ip_days: int = setting("COINS_SIGN_IN_KNOWN_IP_DAYS", 30)
    # Prefix of the counters' keys in Redis (``COINS_REDIS_URL``); in memory without Redis.
    key_prefix: str = setting("COINS_RATE_LIMIT_KEY_PREFIX", "coins-limits")


@dataclass(frozen=True)
class EconomySettings:
    """The published rates (``economy`` query). Shares are exact fractions, never floats."""

    creator_share: Fraction = setting("COINS_CREATOR_SHARE", Fraction(1, 2), _share)
    diamond_value: Rate = setting(
        ("COINS_DIAMOND_VALUE", "COINS_PAYOUT_CURRENCY"), ("0.005", "USD"), _rate
    )
    minimum_payout_diamonds: int = setting("COINS_MINIMUM_PAYOUT_DIAMONDS", 2_000)
    maximum_daily_payout_diamonds: int = setting("COINS_MAXIMUM_DAILY_PAYOUT_DIAMONDS", 200_000)
    # Diamonds from a gift can be paid out only this many days after the gift: long enough
    # for a card chargeback or an App Store refund of the coins behind it to arrive first.
    earnings_maturation_days: int = setting("COINS_PAYOUT_MATURATION_DAYS", 14)


PAYOUT_PROVIDERS = ("sandbox", "stripe")


def _payout_provider(raw: str) -> str:
    if raw not in PAYOUT_PROVIDERS:
        raise ValueError(f"must be one of {', '.join(PAYOUT_PROVIDERS)}, not {raw!r}")
    return raw


@dataclass(frozen=True)
class PayoutSettings:
    """Payout approval policy. Auto-approval is off unless switched on explicitly.

    When on, a payout of at most ``auto_approve_max_diamonds`` from an adult, unfrozen
    creator without an open fraud flag whose account is at least
    ``auto_approve_min_account_age_days`` old is approved and paid right after the request.
    """

    auto_approve: bool = setting("COINS_PAYOUT_AUTO_APPROVE", False)
    auto_approve_max_diamonds: int = setting("COINS_PAYOUT_AUTO_APPROVE_MAX_DIAMONDS", 10_000)
    auto_approve_min_account_age_days: int = setting(
        "COINS_PAYOUT_AUTO_APPROVE_MIN_ACCOUNT_AGE_DAYS", 30
    )
    # Who pays creators: ``sandbox`` (development; needs sandbox payments on, every creator
    # counts as verified) or ``stripe`` (Stripe Connect Express accounts).
    provider: str = setting("COINS_PAYOUT_PROVIDER", "sandbox", _payout_provider)
    # Stripe Connect (with ``PaymentSettings``' platform key and API base): the Connect
    # endpoint's signing secret (``/webhooks/stripe-connect``), and where Stripe's
    # onboarding sends the creator back.
    stripe_connect_webhook_secret: str = setting(
        "COINS_STRIPE_CONNECT_WEBHOOK_SECRET", "", secret=True
    )
    stripe_onboarding_refresh_url: str = setting(
        "COINS_STRIPE_ONBOARDING_REFRESH_URL", "http://localhost:8000/payouts/onboarding/refresh"
    )
    stripe_onboarding_return_url: str = setting(
        "COINS_STRIPE_ONBOARDING_RETURN_URL", "http://localhost:8000/payouts/onboarding/done"
    )


@dataclass(frozen=True)
class SpendingSettings:
    """Platform limits on spending coins (gifts and offers)."""

    max_gift_quantity: int = setting("COINS_MAX_GIFT_QUANTITY", 99)
    # Accounts younger than this may spend at most ``new_account_daily_coins`` a UTC day.
    new_account_days: int = setting("COINS_NEW_ACCOUNT_DAYS", 7)
    new_account_daily_coins: int = setting("COINS_NEW_ACCOUNT_DAILY_COINS", 50_000)
    # A raised or removed limit of the user's own waits this long.
    limit_raise_delay_s: int = setting("COINS_LIMIT_RAISE_DELAY_S", 24 * 3600)
    combo_window_s: int = setting("COINS_COMBO_WINDOW_S", 10)


def _conversion_rates(raw: str) -> tuple[tuple[str, Fraction], ...]:
    """'EUR=1.08,GBP=1.27': units of the reference currency one unit of each is worth."""
    found: list[tuple[str, Fraction]] = []
    for part in filter(None, (p.strip() for p in raw.split(","))):
        code, _, value = part.partition("=")
        code = code.strip().upper()
        try:
            rate = Fraction(Decimal(value.strip()))
        except (InvalidOperation, ValueError):
            rate = Fraction(0)
        if len(code) != 3 or not code.isalpha() or rate <= 0:
            raise ValueError(f"must be rates like 'EUR=1.08,GBP=1.27', not {raw!r}")
        found.append((code, rate))
    return tuple(found)


DEFAULT_CONVERSION_RATES = "USD=1,EUR=1.10,GBP=1.30,CAD=0.75,AUD=0.68,CHF=1.15,JPY=0.0070,INR=0.012"


@dataclass(frozen=True)
class PurchaseLimitSettings:
    """Limits on buying coins with real money (``app.spending.purchase_limits``).

    Amounts are minor units of ``reference_currency``; a purchase in another currency counts
    at the static ``conversion_rates`` (published in the README, changed by deploy, never
    fetched), rounded up. Accounts younger than ``new_account_days`` may buy at most
    ``new_account_daily_minor`` a UTC day.
    """

    reference_currency: str = setting("COINS_PURCHASE_LIMIT_CURRENCY", "USD")
    conversion_rates: tuple[tuple[str, Fraction], ...] = setting(
        ("COINS_PURCHASE_CONVERSION_RATES",), (DEFAULT_CONVERSION_RATES,), _conversion_rates
    )
    new_account_days: int = setting("COINS_NEW_ACCOUNT_PURCHASE_DAYS", 7)
    new_account_daily_minor: int = setting("COINS_NEW_ACCOUNT_DAILY_PURCHASE_MINOR", 10_000)
    # How long an open (unpaid) web checkout counts against the limits as if paid: two
    # checkouts cannot both pass on money neither has paid yet. A payment that arrives
    # later still counts (and is marked over the limit if it goes over).
    checkout_hold_s: int = setting("COINS_CHECKOUT_HOLD_S", 3600, _whole_number(1))


@dataclass(frozen=True)
class FraudSettings:
    """Thresholds of the fraud rules (``app.fraud.rules``); coins and diamonds are whole units."""

    # 1. An account younger than ``young_account_days`` spending more than this in an hour.
    young_account_days: int = setting("COINS_FRAUD_YOUNG_ACCOUNT_DAYS", 7)
    young_account_hourly_coins: int = setting("COINS_FRAUD_YOUNG_ACCOUNT_HOURLY_COINS", 5_000)
    # 2. A gifts B and B gifts A, each more than this, within ``circular_window_s``.
    circular_min_coins: int = setting("COINS_FRAUD_CIRCULAR_MIN_COINS", 1_000)
    circular_window_s: int = setting("COINS_FRAUD_CIRCULAR_WINDOW_S", 24 * 3600)
    # 3. One sender gave more than this share of a creator's diamonds over the window, and
    #    the creator asks for a payout (ignored below ``concentration_min_diamonds``).
    concentration_percent: int = setting("COINS_FRAUD_CONCENTRATION_PERCENT", 80)
    concentration_window_days: int = setting("COINS_FRAUD_CONCENTRATION_WINDOW_DAYS", 7)
    concentration_min_diamonds: int = setting("COINS_FRAUD_CONCENTRATION_MIN_DIAMONDS", 2_000)
    # 5. At least this many accounts younger than ``young_account_days`` gift one creator
    #    within ``swarm_window_s``.
    swarm_min_senders: int = setting("COINS_FRAUD_SWARM_MIN_SENDERS", 5)
    swarm_window_s: int = setting("COINS_FRAUD_SWARM_WINDOW_S", 3600)
    # 7. Auto-approval skips a creator gifted within this many days by a buyer with a
    #    refunded or disputed purchase (refunded within the same days).
    refund_lookback_days: int = setting("COINS_FRAUD_REFUND_LOOKBACK_DAYS", 90)
    # A batch of the gift rules gathers this long after its first gift (0: each gift at
    # once): one statement per batch instead of one per gift on the serving event loop.
    gift_batch_ms: int = setting("COINS_FRAUD_GIFT_BATCH_MS", 100)


@dataclass(frozen=True)
class GraphQLSettings:
    max_depth: int = setting("COINS_GRAPHQL_MAX_DEPTH", 12)
    max_aliases: int = setting("COINS_GRAPHQL_MAX_ALIASES", 30)
    max_tokens: int = setting("COINS_GRAPHQL_MAX_TOKENS", 2_000)
    max_page_size: int = setting("COINS_GRAPHQL_MAX_PAGE_SIZE", 100)
    # Objects one operation may build at most, lists multiplied down (app/graphql/cost.py).
    max_cost: int = setting("COINS_GRAPHQL_MAX_COST", 20_000)
    # The largest request body ``/graphql`` reads (413 beyond): a document within the token
    # limit and its variables (an Apple receipt is a few KB) fit with room to spare, so a
    # bigger body is refused before it costs memory or parsing.
    max_body_bytes: int = setting("COINS_GRAPHQL_MAX_BODY_BYTES", 65_536, _whole_number(1))


@dataclass(frozen=True)
class FeedSettings:
    """The live gift feed: caps on subscriptions and the bounds that keep a slow subscriber
    or a hung Redis from reaching the gift path."""

    max_subscriptions_per_socket: int = setting("COINS_FEED_MAX_SUBSCRIPTIONS_PER_SOCKET", 5)
    max_subscriptions_per_user: int = setting("COINS_FEED_MAX_SUBSCRIPTIONS_PER_USER", 10)
    subscriber_queue_size: int = setting("COINS_FEED_SUBSCRIBER_QUEUE_SIZE", 100)
    outbox_size: int = setting("COINS_FEED_OUTBOX_SIZE", 10_000)
    redis_timeout_ms: int = setting("COINS_FEED_REDIS_TIMEOUT_MS", 500)


def _origins(raw: str) -> tuple[str, ...]:
    """Comma-separated browser origins (``https://app.example.com``) or ``*``."""
    found = tuple(filter(None, (part.strip().rstrip("/") for part in raw.split(","))))
    for origin in found:
        scheme, _, host = origin.partition("://")
        if origin != "*" and (scheme not in ("http", "https") or not host or "/" in host):
            raise ValueError(f"must be origins like https://app.example.com, not {origin!r}")
    return found


@dataclass(frozen=True)
class HTTPSettings:
    """The HTTP edge: browsers (CORS), cacheable GET queries and persisted queries."""

    # Unset (None): localhost origins in development and tests, none in production.
    cors_origins: tuple[str, ...] | None = setting("COINS_CORS_ORIGINS", None, _origins)
    # A JSON object sha256 -> document of the queries the apps were built with.
    persisted_queries_manifest: str = setting("COINS_PERSISTED_QUERIES_MANIFEST", "")
    # Run only the manifest's documents (and refuse automatic persisted queries).
    persisted_queries_only: bool = setting("COINS_PERSISTED_QUERIES_ONLY", False)
    # Automatic persisted queries: documents kept per process, and for how long in Redis.
    apq_max_entries: int = setting("COINS_APQ_MAX_ENTRIES", 1_000, _whole_number(1))
    apq_ttl_s: int = setting("COINS_APQ_TTL_S", 24 * 3600, _whole_number(1))
    # And the most kept in Redis, shared by all the workers (the oldest go first).
    apq_redis_max_entries: int = setting("COINS_APQ_REDIS_MAX_ENTRIES", 10_000, _whole_number(1))
    # How long a CDN may keep an anonymous GET query's answer.
    get_max_age_s: int = setting("COINS_GRAPHQL_GET_MAX_AGE_S", 30)


@dataclass(frozen=True)
class PaymentSettings:
    """Payment providers. A provider without its configuration refuses every receipt.

    SANDBOX receipts follow ``Settings.sandbox_payments`` (off in production).
    ``apple_root_certificates`` are DER bytes of the trusted roots (Apple's in production,
    a test chain in tests); ``apple_environment`` is ``Sandbox`` or ``Production``.
    ``google_service_account`` holds a private key: from the environment only, never logged.
    """

    apple_bundle_id: str = setting("COINS_APPLE_BUNDLE_ID", "")
    apple_environment: str = setting("COINS_APPLE_ENVIRONMENT", "Sandbox")
    apple_app_apple_id: int | None = setting("COINS_APPLE_APP_APPLE_ID", None, _whole_number(1))
    apple_root_certificates: tuple[bytes, ...] = setting(
        "COINS_APPLE_ROOT_CERTIFICATES", (), _certificates
    )
    stripe_webhook_secret: str = setting("COINS_STRIPE_WEBHOOK_SECRET", "", secret=True)
    stripe_tolerance_s: int = setting("COINS_STRIPE_TOLERANCE_S", 300)
    # The platform's Stripe secret key: web checkout (``createCheckout``) creates
    # PaymentIntents with it and Stripe Connect pays creators with it; unset, neither can
    # start. The API base is Stripe's unless set (tests: a local fake).
    stripe_secret_key: str = setting("COINS_STRIPE_SECRET_KEY", "", secret=True)
    stripe_api_base: str = setting("COINS_STRIPE_API_BASE", "https://api.stripe.com")
    stripe_timeout_s: int = setting("COINS_STRIPE_TIMEOUT_S", 10, _whole_number(1))
    # Google Play: the app's package name and a service account with access to its orders
    # in the Play Console (the key's JSON, or the path of the file). Unset: GOOGLE refuses.
    google_package_name: str = setting("COINS_GOOGLE_PACKAGE_NAME", "")
    google_service_account: str = setting(
        "COINS_GOOGLE_SERVICE_ACCOUNT", "", _service_account, secret=True
    )
    # Pub/Sub push of real-time developer notifications: the OIDC token's audience (the push
    # subscription's), the service account it is issued for, and where Google's certs are.
    google_pubsub_audience: str = setting("COINS_GOOGLE_PUBSUB_AUDIENCE", "")
    google_pubsub_service_account: str = setting("COINS_GOOGLE_PUBSUB_SERVICE_ACCOUNT", "")
    google_pubsub_certs_url: str = setting(
        "COINS_GOOGLE_PUBSUB_CERTS_URL", "https://www.googleapis.com/oauth2/v1/certs"
    )
    # App Store Server API (answers to CONSUMPTION_REQUEST): the In-App Purchase key's id,
    # its issuer and the key itself (PEM, a secret: from the environment only). Unset: no
    # consumption data is sent. The base URL overrides the environment's (a local fake).
    apple_api_key_id: str = setting("COINS_APPLE_API_KEY_ID", "")
    apple_api_issuer_id: str = setting("COINS_APPLE_API_ISSUER_ID", "")
    apple_api_private_key: str = setting("COINS_APPLE_API_PRIVATE_KEY", "", secret=True)
    apple_api_base_url: str = setting("COINS_APPLE_API_BASE_URL", "")
    # Whether the terms of sale ask buyers to consent to consumption data going to Apple;
    # without consent none is sent.
    apple_consumption_consent: bool = setting("COINS_APPLE_CONSUMPTION_CONSENT", True)


@dataclass(frozen=True)
class ObservabilitySettings:
    """What operators read: ``/readyz`` and ``/metrics`` (tracing follows the ``OTEL_*``
    variables, see ``app.observability.tracing``)."""

    # Bearer token ``/metrics`` asks for. Unset: open in development and test, and no
    # ``/metrics`` at all (404) in production.
    metrics_token: str = setting("COINS_METRICS_TOKEN", "")
    # How long each ``/readyz`` check (database, migrations, Redis) may take.
    readiness_timeout_ms: int = setting("COINS_READINESS_TIMEOUT_MS", 500, _whole_number(1))


@dataclass(frozen=True)
class Settings:
    """Production refuses the development secret and turns sandbox payments off by default."""

    env: str = setting("COINS_ENV", "development")
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    ledger: LedgerSettings = field(default_factory=LedgerSettings)
    auth: AuthSettings = field(default_factory=AuthSettings)
    sign_in: SignInSettings = field(default_factory=SignInSettings)
    economy: EconomySettings = field(default_factory=EconomySettings)
    payouts: PayoutSettings = field(default_factory=PayoutSettings)
    graphql: GraphQLSettings = field(default_factory=GraphQLSettings)
    spending: SpendingSettings = field(default_factory=SpendingSettings)
    purchase_limits: PurchaseLimitSettings = field(default_factory=PurchaseLimitSettings)
    fraud: FraudSettings = field(default_factory=FraudSettings)
    # Unset (None): on, except in production.
    sandbox_payments: bool = setting("COINS_SANDBOX_PAYMENTS", None, _switch)
    # Google Play test purchases (license testers: ``purchaseType`` 0, nobody paid). Unset
    # (None): accepted, except in production, where they are TEST_PURCHASE_REFUSED.
    google_accept_test_purchases: bool = setting(
        "COINS_GOOGLE_ACCEPT_TEST_PURCHASES", None, _switch
    )
    payments: PaymentSettings = field(default_factory=PaymentSettings)
    observability: ObservabilitySettings = field(default_factory=ObservabilitySettings)
    redis_url: str | None = setting("COINS_REDIS_URL", None, str)
    # Prefix of the Redis pub/sub channels of the live feed (one per stream).
    redis_channel_prefix: str = setting("COINS_REDIS_CHANNEL_PREFIX", "coins")
    # Proxies whose X-Forwarded-For is believed; unset: the peer's address is the client's.
    # IPNetworks, typed Any: Litestar's signature model refuses a union of two classes.
    trusted_proxies: tuple[Any, ...] = setting("COINS_TRUSTED_PROXIES", (), _networks)
    feed: FeedSettings = field(default_factory=FeedSettings)
    http: HTTPSettings = field(default_factory=HTTPSettings)
    # Who settles queued gifts (``app.gifts.settlement``): ``app``, each app process in its
    # own event loop; ``process``, one ``coins settle`` process that ``coins serve`` starts,
    # which keeps the batches' CPU off the loops that answer requests; ``external``, a
    # ``coins settle`` the operator runs (one container of several, a service of its own).
    settler: Literal["app", "process", "external"] = setting("COINS_SETTLER", "app")

    def __post_init__(self) -> None:
        if self.env not in ENVIRONMENTS:
            raise SettingsError(
                f"COINS_ENV must be one of {', '.join(ENVIRONMENTS)}, not {self.env!r}"
            )
        if self.settler not in SETTLERS:
            raise SettingsError(
                f"COINS_SETTLER must be one of {', '.join(SETTLERS)}, not {self.settler!r}"
            )
        if self.sandbox_payments is None:
            object.__setattr__(self, "sandbox_payments", not self.is_production)
        if self.google_accept_test_purchases is None:
            object.__setattr__(self, "google_accept_test_purchases", not self.is_production)
        if self.is_production and self.auth.jwt_secret == DEVELOPMENT_JWT_SECRET:
            raise SettingsError(
                "COINS_JWT_SECRET is not set: production refuses to start without a secret "
                "of at least 32 characters to sign bearer tokens."
            )
        if self.is_production and len(self.auth.jwt_secret) < 32:
            raise SettingsError("COINS_JWT_SECRET must be at least 32 characters in production.")
        payouts = self.payouts
        if (
            self.is_production
            and payouts.provider == "stripe"
            and not (self.payments.stripe_secret_key and payouts.stripe_connect_webhook_secret)
        ):
            raise SettingsError(
                "COINS_PAYOUT_PROVIDER=stripe needs COINS_STRIPE_SECRET_KEY and "
                "COINS_STRIPE_CONNECT_WEBHOOK_SECRET in production."
            )

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def cors_origins(self) -> tuple[str, ...]:
        """Browser origins allowed to call the API: none in production unless configured."""
        if self.http.cors_origins is not None:
            return self.http.cors_origins
        return () if self.is_production else DEVELOPMENT_CORS_ORIGINS

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
        """Outside production, an unset COINS_JWT_SECRET is a random secret of this machine
        (``development_secret``), never the published ``DEVELOPMENT_JWT_SECRET``: anyone can
        read that one, and would sign valid tokens for any user of a server left on it."""
        environ = os.environ if environ is None else environ
        settings = _read(cls, environ)
        if settings.is_production or environ.get("COINS_JWT_SECRET"):
            return settings
        database = settings.database
        directory = (
            database.sqlite_path.parent
            if not database.is_postgres
            else Path(DEFAULT_SQLITE_PATH).parent
        )
        auth = replace(settings.auth, jwt_secret=development_secret(directory))
        return replace(settings, auth=auth)


def development_secret(directory: Path) -> str:
    """A random signing secret kept in ``directory`` (var/ beside the SQLite database), made
    on first use: ``coins serve``, ``coins token`` and every worker of one checkout agree on
    it, and it is unknown beyond this machine. Readable by its owner only."""
    path = directory / DEVELOPMENT_SECRET_FILE
    for _ in range(2):
        try:
            secret = path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            pass
        else:
            if len(secret) >= 32:
                return secret
            path.unlink(missing_ok=True)  # unusable: make a new one
        directory.mkdir(parents=True, exist_ok=True)
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            continue  # another process made it first: read theirs
        with os.fdopen(descriptor, "w", encoding="ascii") as file:
            file.write(secrets.token_urlsafe(48))
    return path.read_text(encoding="ascii").strip()


def variables(cls: type = Settings) -> list[Variable]:
    """Every variable that sets a field of ``cls`` or of its nested settings, in field order."""
    found: list[Variable] = []
    for f in fields(cls):
        if is_dataclass(f.default_factory):
            found += variables(f.default_factory)
        else:
            found.append(f.metadata["variable"])
    return found

"""Settings from the environment; production refuses unsafe defaults."""

from __future__ import annotations

import ipaddress
import re
import subprocess
import sys
from dataclasses import replace
from fractions import Fraction
from operator import attrgetter
from pathlib import Path

import pytest
from limits import parse_many

from app.cli import main
from app.core.database import transaction_attempts
from app.core.money import Rate
from app.core.transactions import RetryTransaction, TransactionConflict, in_transaction
from app.settings import AuthSettings, Settings, SettingsError, variables
from tests.conftest import Database, run_sync

SECRET = "settings-test-secret-that-is-long-enough"
README = Path(__file__).parent.parent / "README.md"

# Every variable: a value other than its default, the setting it sets and what it becomes.
# ``{certificate}`` stands for a DER file the test writes.
GOOGLE_KEY = '{"client_email": "a@b", "private_key": "k", "token_uri": "https://t"}'

READS: dict[str, tuple[str, str, object]] = {
    "COINS_ENV": ("test", "env", "test"),
    "COINS_DATABASE_URL": ("postgresql://db/coins", "database.url", "postgresql://db/coins"),
    "COINS_DATABASE_POOL_MAX_SIZE": ("0", "database.pool_max_size", 0),
    "COINS_DATABASE_RETRY_ATTEMPTS": ("3", "database.retry_attempts", 3),
    "COINS_LEDGER_SHARDS": ("4", "ledger.system_account_shards", 4),
    "COINS_JWT_SECRET": (SECRET, "auth.jwt_secret", SECRET),
    "COINS_TOKEN_TTL_S": ("3600", "auth.token_ttl_s", 3600),
    "COINS_CREATOR_SHARE": ("0.6", "economy.creator_share", Fraction(3, 5)),
    "COINS_DIAMOND_VALUE": ("0.01", "economy.diamond_value", Rate(1, 1, "USD")),
    "COINS_PAYOUT_CURRENCY": ("jpy", "economy.diamond_value", Rate(1, 200, "JPY")),
    "COINS_MINIMUM_PAYOUT_DIAMONDS": ("500", "economy.minimum_payout_diamonds", 500),
    "COINS_PAYOUT_MATURATION_DAYS": ("3", "economy.earnings_maturation_days", 3),
    "COINS_MAXIMUM_DAILY_PAYOUT_DIAMONDS": ("9000", "economy.maximum_daily_payout_diamonds", 9000),
    "COINS_PAYOUT_AUTO_APPROVE": ("on", "payouts.auto_approve", True),
    "COINS_PAYOUT_AUTO_APPROVE_MAX_DIAMONDS": ("4000", "payouts.auto_approve_max_diamonds", 4000),
    "COINS_PAYOUT_AUTO_APPROVE_MIN_ACCOUNT_AGE_DAYS": (
        "90",
        "payouts.auto_approve_min_account_age_days",
        90,
    ),
    "COINS_GRAPHQL_MAX_DEPTH": ("6", "graphql.max_depth", 6),
    "COINS_GRAPHQL_MAX_ALIASES": ("4", "graphql.max_aliases", 4),
    "COINS_GRAPHQL_MAX_TOKENS": ("500", "graphql.max_tokens", 500),
    "COINS_GRAPHQL_MAX_PAGE_SIZE": ("20", "graphql.max_page_size", 20),
    "COINS_GRAPHQL_MAX_COST": ("5000", "graphql.max_cost", 5000),
    "COINS_GRAPHQL_MAX_BODY_BYTES": ("4096", "graphql.max_body_bytes", 4096),
    "COINS_MAX_GIFT_QUANTITY": ("9", "spending.max_gift_quantity", 9),
    "COINS_NEW_ACCOUNT_DAYS": ("3", "spending.new_account_days", 3),
    "COINS_NEW_ACCOUNT_DAILY_COINS": ("700", "spending.new_account_daily_coins", 700),
    "COINS_LIMIT_RAISE_DELAY_S": ("60", "spending.limit_raise_delay_s", 60),
    "COINS_COMBO_WINDOW_S": ("5", "spending.combo_window_s", 5),
    "COINS_FRAUD_YOUNG_ACCOUNT_DAYS": ("2", "fraud.young_account_days", 2),
    "COINS_FRAUD_YOUNG_ACCOUNT_HOURLY_COINS": ("100", "fraud.young_account_hourly_coins", 100),
    "COINS_FRAUD_CIRCULAR_MIN_COINS": ("250", "fraud.circular_min_coins", 250),
    "COINS_FRAUD_CIRCULAR_WINDOW_S": ("600", "fraud.circular_window_s", 600),
    "COINS_FRAUD_CONCENTRATION_PERCENT": ("60", "fraud.concentration_percent", 60),
    "COINS_FRAUD_CONCENTRATION_WINDOW_DAYS": ("30", "fraud.concentration_window_days", 30),
    "COINS_FRAUD_CONCENTRATION_MIN_DIAMONDS": ("10", "fraud.concentration_min_diamonds", 10),
    "COINS_FRAUD_SWARM_MIN_SENDERS": ("9", "fraud.swarm_min_senders", 9),
    "COINS_FRAUD_SWARM_WINDOW_S": ("120", "fraud.swarm_window_s", 120),
    "COINS_FRAUD_REFUND_LOOKBACK_DAYS": ("30", "fraud.refund_lookback_days", 30),
    "COINS_FRAUD_GIFT_BATCH_MS": ("250", "fraud.gift_batch_ms", 250),
    "COINS_SANDBOX_PAYMENTS": ("false", "sandbox_payments", False),
    "COINS_GOOGLE_ACCEPT_TEST_PURCHASES": ("false", "google_accept_test_purchases", False),
    "COINS_CHECKOUT_HOLD_S": ("600", "purchase_limits.checkout_hold_s", 600),
    "COINS_APPLE_BUNDLE_ID": ("com.example.coins", "payments.apple_bundle_id", "com.example.coins"),
    "COINS_APPLE_ENVIRONMENT": ("Production", "payments.apple_environment", "Production"),
    "COINS_APPLE_APP_APPLE_ID": ("123456", "payments.apple_app_apple_id", 123456),
    "COINS_APPLE_ROOT_CERTIFICATES": (
        "{certificate}",
        "payments.apple_root_certificates",
        (b"DER",),
    ),
    "COINS_APPLE_API_KEY_ID": ("KEY123", "payments.apple_api_key_id", "KEY123"),
    "COINS_APPLE_API_ISSUER_ID": ("issuer-1", "payments.apple_api_issuer_id", "issuer-1"),
    "COINS_APPLE_API_PRIVATE_KEY": ("pem", "payments.apple_api_private_key", "pem"),
    "COINS_APPLE_API_BASE_URL": (
        "http://127.0.0.1:9",
        "payments.apple_api_base_url",
        "http://127.0.0.1:9",
    ),
    "COINS_APPLE_CONSUMPTION_CONSENT": ("false", "payments.apple_consumption_consent", False),
    "COINS_STRIPE_WEBHOOK_SECRET": ("whsec_x", "payments.stripe_webhook_secret", "whsec_x"),
    "COINS_STRIPE_TOLERANCE_S": ("60", "payments.stripe_tolerance_s", 60),
    "COINS_STRIPE_SECRET_KEY": ("sk_test_x", "payments.stripe_secret_key", "sk_test_x"),
    "COINS_STRIPE_API_BASE": (
        "http://127.0.0.1:12111",
        "payments.stripe_api_base",
        "http://127.0.0.1:12111",
    ),
    "COINS_STRIPE_TIMEOUT_S": ("3", "payments.stripe_timeout_s", 3),
    "COINS_PURCHASE_LIMIT_CURRENCY": ("EUR", "purchase_limits.reference_currency", "EUR"),
    "COINS_PURCHASE_CONVERSION_RATES": (
        "eur=1.25, JPY=0.0068",
        "purchase_limits.conversion_rates",
        (("EUR", Fraction(5, 4)), ("JPY", Fraction(17, 2500))),
    ),
    "COINS_NEW_ACCOUNT_PURCHASE_DAYS": ("3", "purchase_limits.new_account_days", 3),
    "COINS_NEW_ACCOUNT_DAILY_PURCHASE_MINOR": (
        "2500",
        "purchase_limits.new_account_daily_minor",
        2500,
    ),
    "COINS_GOOGLE_PACKAGE_NAME": ("com.example.a", "payments.google_package_name", "com.example.a"),
    "COINS_GOOGLE_SERVICE_ACCOUNT": (
        GOOGLE_KEY.replace("{", "{{").replace("}", "}}"),
        "payments.google_service_account",
        GOOGLE_KEY,
    ),
    "COINS_GOOGLE_PUBSUB_AUDIENCE": (
        "https://a/b",
        "payments.google_pubsub_audience",
        "https://a/b",
    ),
    "COINS_GOOGLE_PUBSUB_SERVICE_ACCOUNT": (
        "push@x.iam.gserviceaccount.com",
        "payments.google_pubsub_service_account",
        "push@x.iam.gserviceaccount.com",
    ),
    "COINS_GOOGLE_PUBSUB_CERTS_URL": (
        "https://c/",
        "payments.google_pubsub_certs_url",
        "https://c/",
    ),
    "COINS_PAYOUT_PROVIDER": ("stripe", "payouts.provider", "stripe"),
    "COINS_STRIPE_CONNECT_WEBHOOK_SECRET": (
        "whsec_c",
        "payouts.stripe_connect_webhook_secret",
        "whsec_c",
    ),
    "COINS_STRIPE_ONBOARDING_REFRESH_URL": (
        "https://a.example/r",
        "payouts.stripe_onboarding_refresh_url",
        "https://a.example/r",
    ),
    "COINS_STRIPE_ONBOARDING_RETURN_URL": (
        "https://a.example/d",
        "payouts.stripe_onboarding_return_url",
        "https://a.example/d",
    ),
    "COINS_REDIS_URL": ("redis://cache:6379/0", "redis_url", "redis://cache:6379/0"),
    "COINS_REDIS_CHANNEL_PREFIX": ("staging", "redis_channel_prefix", "staging"),
    "COINS_SETTLER": ("process", "settler", "process"),
    "COINS_TRUSTED_PROXIES": (
        "10.0.0.0/8, 2001:db8::1",
        "trusted_proxies",
        (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("2001:db8::1/128")),
    ),
    "COINS_PASSWORD_HASH_THREADS": ("4", "sign_in.hash_threads", 4),
    "COINS_PASSWORD_HASH_QUEUE": ("8", "sign_in.hash_queue", 8),
    "COINS_SIGN_IN_IP_LIMITS": (
        "5/minute;50/day",
        "sign_in.ip_limits",
        tuple(parse_many("5/minute;50/day")),
    ),
    "COINS_SIGN_IN_HANDLE_LIMITS": (
        "3/minute",
        "sign_in.handle_limits",
        tuple(parse_many("3/minute")),
    ),
    "COINS_SIGN_IN_FREE_FAILURES": ("3", "sign_in.free_failures", 3),
    "COINS_SIGN_IN_BACKOFF_BASE_S": ("2", "sign_in.backoff_base_s", 2),
    "COINS_SIGN_IN_BACKOFF_MAX_S": ("120", "sign_in.backoff_max_s", 120),
    "COINS_SIGN_IN_FAILURE_MEMORY_S": ("600", "sign_in.failure_memory_s", 600),
    "COINS_SIGN_IN_KNOWN_IP_DAYS": ("7", "sign_in.known_ip_days", 7),
    "COINS_RATE_LIMIT_KEY_PREFIX": ("staging-limits", "sign_in.key_prefix", "staging-limits"),
    "COINS_FEED_MAX_SUBSCRIPTIONS_PER_SOCKET": ("2", "feed.max_subscriptions_per_socket", 2),
    "COINS_FEED_MAX_SUBSCRIPTIONS_PER_USER": ("3", "feed.max_subscriptions_per_user", 3),
    "COINS_FEED_SUBSCRIBER_QUEUE_SIZE": ("7", "feed.subscriber_queue_size", 7),
    "COINS_FEED_OUTBOX_SIZE": ("50", "feed.outbox_size", 50),
    "COINS_FEED_REDIS_TIMEOUT_MS": ("250", "feed.redis_timeout_ms", 250),
    "COINS_CORS_ORIGINS": (
        "https://app.example.com, https://web.example.com/",
        "http.cors_origins",
        ("https://app.example.com", "https://web.example.com"),
    ),
    "COINS_PERSISTED_QUERIES_MANIFEST": (
        "/etc/coins/queries.json",
        "http.persisted_queries_manifest",
        "/etc/coins/queries.json",
    ),
    "COINS_PERSISTED_QUERIES_ONLY": ("on", "http.persisted_queries_only", True),
    "COINS_APQ_MAX_ENTRIES": ("50", "http.apq_max_entries", 50),
    "COINS_APQ_TTL_S": ("60", "http.apq_ttl_s", 60),
    "COINS_APQ_REDIS_MAX_ENTRIES": ("500", "http.apq_redis_max_entries", 500),
    "COINS_GRAPHQL_GET_MAX_AGE_S": ("5", "http.get_max_age_s", 5),
    "COINS_METRICS_TOKEN": ("scrape-me", "observability.metrics_token", "scrape-me"),
    "COINS_READINESS_TIMEOUT_MS": ("250", "observability.readiness_timeout_ms", 250),
}


def _names() -> set[str]:
    return {name for variable in variables() for name in variable.names}


def test_the_table_above_names_every_variable() -> None:
    assert set(READS) == _names()


@pytest.mark.parametrize("name", sorted(READS))
def test_each_variable_sets_its_setting(name: str, tmp_path: Path) -> None:
    raw, path, expected = READS[name]
    certificate = tmp_path / "root.cer"
    certificate.write_bytes(b"DER")
    get = attrgetter(path)

    settings = Settings.from_env({name: raw.format(certificate=certificate)})

    assert get(settings) == expected
    assert get(Settings()) != expected


def test_the_readme_lists_exactly_the_variables() -> None:
    section = README.read_text().split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]

    assert set(re.findall(r"COINS_[A-Z0-9_]+", section)) == _names()


def test_development_defaults_are_usable() -> None:
    settings = Settings.from_env({})

    # The signing secret is this checkout's own random one (see the test below).
    assert replace(settings, auth=Settings().auth) == Settings()
    assert settings.env == "development"
    assert settings.sandbox_payments is True
    assert settings.database.sqlite_path == Path("var/coins.sqlite3")
    assert settings.database.pool_max_size == 10
    assert settings.database.retry_attempts == 8
    assert settings.economy.creator_share == Fraction(1, 2)
    assert settings.economy.diamond_value == Rate(1, 2, "USD")
    assert settings.payments.apple_app_apple_id is None
    assert settings.redis_url is None


def test_an_empty_variable_keeps_the_default() -> None:
    blank = dict.fromkeys(READS, "")

    assert replace(Settings.from_env(blank), auth=Settings().auth) == Settings()


def test_production_without_a_secret_stops_with_a_clear_message() -> None:
    with pytest.raises(SettingsError, match="COINS_JWT_SECRET is not set"):
        Settings.from_env({"COINS_ENV": "production"})
    with pytest.raises(SettingsError, match="at least 32"):
        Settings.from_env({"COINS_ENV": "production", "COINS_JWT_SECRET": "short"})


def test_production_stripe_payouts_need_their_secrets() -> None:
    env = {"COINS_ENV": "production", "COINS_JWT_SECRET": SECRET, "COINS_PAYOUT_PROVIDER": "stripe"}
    with pytest.raises(SettingsError, match="COINS_STRIPE_SECRET_KEY"):
        Settings.from_env(env)
    with pytest.raises(SettingsError, match="COINS_STRIPE_CONNECT_WEBHOOK_SECRET"):
        Settings.from_env({**env, "COINS_STRIPE_SECRET_KEY": "sk_live_x"})
    configured = Settings.from_env(
        {**env, "COINS_STRIPE_SECRET_KEY": "sk_x", "COINS_STRIPE_CONNECT_WEBHOOK_SECRET": "whsec_x"}
    )
    assert configured.payouts.provider == "stripe"


def test_settings_built_in_python_keep_the_same_rules() -> None:
    with pytest.raises(SettingsError, match="COINS_JWT_SECRET is not set"):
        Settings(env="production")
    with pytest.raises(SettingsError, match="COINS_ENV must be one of"):
        Settings(env="staging")

    production = Settings(env="production", auth=AuthSettings(jwt_secret=SECRET))
    assert production.sandbox_payments is False
    assert Settings(env="test").sandbox_payments is True


def test_production_turns_sandbox_payments_off_unless_switched_on() -> None:
    production = {"COINS_ENV": "production", "COINS_JWT_SECRET": "s" * 40}
    settings = Settings.from_env(production)

    assert settings.is_production
    assert settings.sandbox_payments is False
    assert Settings.from_env({**production, "COINS_SANDBOX_PAYMENTS": "yes"}).sandbox_payments


def test_rates_are_exact_fractions() -> None:
    settings = Settings.from_env(
        {
            "COINS_CREATOR_SHARE": "0.55",
            "COINS_DIAMOND_VALUE": "0.0033",
            "COINS_PAYOUT_CURRENCY": "eur",
        }
    )

    assert settings.economy.creator_share == Fraction(11, 20)
    assert settings.economy.diamond_value == Rate(33, 100, "EUR")


def test_payout_auto_approval_is_off_unless_switched_on() -> None:
    assert Settings.from_env({}).payouts.auto_approve is False

    settings = Settings.from_env(
        {
            "COINS_PAYOUT_AUTO_APPROVE": "true",
            "COINS_PAYOUT_AUTO_APPROVE_MAX_DIAMONDS": "4000",
            "COINS_PAYOUT_AUTO_APPROVE_MIN_ACCOUNT_AGE_DAYS": "90",
        }
    )

    assert settings.payouts.auto_approve is True
    assert settings.payouts.auto_approve_max_diamonds == 4_000
    assert settings.payouts.auto_approve_min_account_age_days == 90


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("COINS_ENV", "staging"),
        ("COINS_CREATOR_SHARE", "1.5"),
        ("COINS_CREATOR_SHARE", "half"),
        ("COINS_DIAMOND_VALUE", "cheap"),
        ("COINS_DIAMOND_VALUE", "-0.005"),
        ("COINS_PAYOUT_CURRENCY", "dollars"),
        ("COINS_SANDBOX_PAYMENTS", "maybe"),
        ("COINS_MINIMUM_PAYOUT_DIAMONDS", "ten"),
        ("COINS_MINIMUM_PAYOUT_DIAMONDS", "-1"),
        ("COINS_FRAUD_SWARM_MIN_SENDERS", "5.5"),
        ("COINS_DATABASE_RETRY_ATTEMPTS", "0"),
        ("COINS_APPLE_APP_APPLE_ID", "abc"),
        ("COINS_PAYOUT_AUTO_APPROVE", "sometimes"),
        ("COINS_PAYOUT_PROVIDER", "paypal"),
        ("COINS_APPLE_ROOT_CERTIFICATES", "/nonexistent/root.pem"),
        ("COINS_CORS_ORIGINS", "app.example.com"),
        ("COINS_CORS_ORIGINS", "https://app.example.com/path"),
        ("COINS_APQ_MAX_ENTRIES", "0"),
    ],
)
def test_bad_values_are_named(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name) as raised:
        Settings.from_env({name: value})

    assert value in str(raised.value)


def test_the_cli_refuses_to_start_in_production_without_a_secret(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COINS_ENV", "production")
    monkeypatch.delenv("COINS_JWT_SECRET", raising=False)

    assert main(["ledger", "verify"]) == 2
    assert "COINS_JWT_SECRET is not set" in capsys.readouterr().err


def test_fraud_thresholds_come_from_the_environment() -> None:
    settings = Settings.from_env(
        {"COINS_FRAUD_CIRCULAR_MIN_COINS": "250", "COINS_FRAUD_SWARM_MIN_SENDERS": "9"}
    )

    assert settings.fraud.circular_min_coins == 250
    assert settings.fraud.swarm_min_senders == 9
    assert settings.fraud.concentration_percent == 80


def test_retry_attempts_bound_the_transaction_retries(
    db: Database, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COINS_DATABASE_URL", db.url)
    monkeypatch.setenv("COINS_DATABASE_RETRY_ATTEMPTS", "3")
    assert main(["ledger", "verify"]) == 0
    runs = 0

    async def always_conflicting() -> None:
        nonlocal runs
        runs += 1
        raise RetryTransaction

    with pytest.raises(TransactionConflict, match="after 3 attempts"):
        run_sync(in_transaction(always_conflicting))
    assert runs == 3
    assert transaction_attempts() == 3


def test_importing_piccolo_conf_opens_nothing(tmp_path: Path) -> None:
    """Piccolo's ``DB`` is the engine settings name, opened (and its directory made) on use."""
    directory = tmp_path / "var"
    script = f"""
import os
import app.piccolo_conf as conf
from app.core import database
assert database._engine is None
assert not os.path.exists({str(directory)!r})
assert conf.DB is database.current_engine()
assert conf.DB.path == {str(directory / "coins.sqlite3")!r}
"""
    environment = {"COINS_DATABASE_URL": f"sqlite:///{directory}/coins.sqlite3"}

    subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=environment, check=True, timeout=60
    )

    assert directory.is_dir()


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("COINS_SIGN_IN_IP_LIMITS", "lots"),
        ("COINS_SIGN_IN_HANDLE_LIMITS", "10 a minute"),
        ("COINS_TRUSTED_PROXIES", "10.0.0.0/8, proxy.internal"),
        ("COINS_PASSWORD_HASH_THREADS", "0"),
    ],
)
def test_sign_in_settings_refuse_what_they_cannot_read(name: str, raw: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: raw})


def test_development_without_a_secret_signs_with_a_random_one_of_this_machine(
    tmp_path: Path,
) -> None:
    from app.settings import DEVELOPMENT_JWT_SECRET
    from app.users.tokens import issue_token, user_id_from_token

    here = {"COINS_DATABASE_URL": f"sqlite:///{tmp_path}/one/coins.sqlite3"}
    elsewhere = {"COINS_DATABASE_URL": f"sqlite:///{tmp_path}/two/coins.sqlite3"}

    first, again = Settings.from_env(here), Settings.from_env(here)
    other = Settings.from_env(elsewhere)
    forged = issue_token(1, AuthSettings(jwt_secret=DEVELOPMENT_JWT_SECRET))
    kept = tmp_path / "one" / "jwt-secret"

    assert first.auth.jwt_secret != DEVELOPMENT_JWT_SECRET
    assert len(first.auth.jwt_secret) >= 32
    assert again.auth.jwt_secret == first.auth.jwt_secret  # serve and `coins token` agree
    assert other.auth.jwt_secret != first.auth.jwt_secret
    assert kept.read_text() == first.auth.jwt_secret
    assert kept.stat().st_mode & 0o777 == 0o600
    assert user_id_from_token(forged, first.auth) is None
    assert user_id_from_token(issue_token(1, first.auth), again.auth) == 1
    explicit = Settings.from_env({**here, "COINS_JWT_SECRET": SECRET})
    assert explicit.auth.jwt_secret == SECRET


def test_cors_origins_are_localhost_in_development_and_none_in_production() -> None:
    development = Settings()
    production = Settings.from_env({"COINS_ENV": "production", "COINS_JWT_SECRET": SECRET})
    configured = Settings.from_env(
        {"COINS_ENV": "production", "COINS_JWT_SECRET": SECRET, "COINS_CORS_ORIGINS": "*"}
    )

    assert "http://localhost:3000" in development.cors_origins
    assert production.cors_origins == ()
    assert configured.cors_origins == ("*",)


def test_the_google_service_account_is_read_from_a_file_and_kept_out_of_reprs(
    tmp_path: Path,
) -> None:
    key = tmp_path / "play.json"
    key.write_text('{"client_email": "a@b", "private_key": "PRIVATE", "token_uri": "https://t"}')

    settings = Settings.from_env({"COINS_GOOGLE_SERVICE_ACCOUNT": str(key)})

    assert settings.payments.google_service_account == key.read_text()
    assert "PRIVATE" not in repr(settings)
    for bad in ("{not json", '{"client_email": "a@b"}', str(tmp_path / "missing.json")):
        with pytest.raises(SettingsError, match="COINS_GOOGLE_SERVICE_ACCOUNT"):
            Settings.from_env({"COINS_GOOGLE_SERVICE_ACCOUNT": bad})

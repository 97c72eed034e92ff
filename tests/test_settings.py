"""Settings from the environment; production refuses unsafe defaults."""

from __future__ import annotations

from fractions import Fraction

import pytest

from app.cli import main
from app.core.money import Rate
from app.settings import Settings, SettingsError


def test_development_defaults_are_usable() -> None:
    settings = Settings.from_env({})

    assert settings.env == "development"
    assert settings.sandbox_payments is True
    assert settings.database.sqlite_path.name == "coins.sqlite3"
    assert settings.economy.creator_share == Fraction(1, 2)
    assert settings.economy.diamond_value == Rate(1, 2, "USD")


def test_production_without_a_secret_stops_with_a_clear_message() -> None:
    with pytest.raises(SettingsError, match="COINS_JWT_SECRET is not set"):
        Settings.from_env({"COINS_ENV": "production"})
    with pytest.raises(SettingsError, match="at least 32"):
        Settings.from_env({"COINS_ENV": "production", "COINS_JWT_SECRET": "short"})


def test_production_turns_sandbox_payments_off() -> None:
    settings = Settings.from_env({"COINS_ENV": "production", "COINS_JWT_SECRET": "s" * 40})

    assert settings.is_production
    assert settings.sandbox_payments is False


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
        ("COINS_SANDBOX_PAYMENTS", "maybe"),
        ("COINS_MINIMUM_PAYOUT_DIAMONDS", "ten"),
        ("COINS_PAYOUT_AUTO_APPROVE", "sometimes"),
    ],
)
def test_bad_values_are_named(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name if name != "COINS_ENV" else "COINS_ENV"):
        Settings.from_env({name: value})


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

"""Payment settings come from the environment; certificates from PEM or DER files."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from app.settings import Settings, SettingsError
from tests.purchases.signing import AppleSigner


def test_payment_settings_read_the_environment(tmp_path: Path, apple: AppleSigner) -> None:
    pem = tmp_path / "root.pem"
    der = tmp_path / "root.cer"
    pem.write_bytes(apple.root.public_bytes(Encoding.PEM))
    der.write_bytes(apple.root_der)

    settings = Settings.from_env(
        {
            "COINS_APPLE_BUNDLE_ID": "com.example.coins",
            "COINS_APPLE_ENVIRONMENT": "Production",
            "COINS_APPLE_APP_APPLE_ID": "123456",
            "COINS_APPLE_ROOT_CERTIFICATES": f"{pem}, {der}",
            "COINS_STRIPE_WEBHOOK_SECRET": "whsec_x",
        }
    )

    payments = settings.payments
    assert payments.apple_bundle_id == "com.example.coins"
    assert payments.apple_environment == "Production"
    assert payments.apple_app_apple_id == 123456
    assert payments.apple_root_certificates == (apple.root_der, apple.root_der)
    assert payments.stripe_webhook_secret == "whsec_x"
    assert payments.stripe_tolerance_s == 300


def test_sandbox_payments_are_off_in_production() -> None:
    production = Settings.from_env({"COINS_ENV": "production", "COINS_JWT_SECRET": "s" * 40})

    assert production.sandbox_payments is False
    assert Settings.from_env({}).sandbox_payments is True


def test_google_test_purchases_are_refused_in_production_unless_allowed() -> None:
    secret = {"COINS_ENV": "production", "COINS_JWT_SECRET": "s" * 40}

    assert Settings.from_env(secret).google_accept_test_purchases is False
    assert Settings.from_env({}).google_accept_test_purchases is True
    allowed = secret | {"COINS_GOOGLE_ACCEPT_TEST_PURCHASES": "true"}
    assert Settings.from_env(allowed).google_accept_test_purchases is True
    denied = {"COINS_GOOGLE_ACCEPT_TEST_PURCHASES": "off"}
    assert Settings.from_env(denied).google_accept_test_purchases is False


def test_an_unreadable_certificate_path_stops_the_start(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="cannot read"):
        Settings.from_env({"COINS_APPLE_ROOT_CERTIFICATES": str(tmp_path / "missing.pem")})

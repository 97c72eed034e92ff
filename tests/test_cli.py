"""The ``coins`` command against a real database."""

from __future__ import annotations

import io

import pytest

from app.cli import main
from app.ledger.tables import Account
from app.settings import AuthSettings
from app.users.tokens import user_id_from_token
from tests.conftest import Database, run_sync

SECRET = "cli-test-secret-that-is-long-enough-42"


@pytest.fixture
def cli_env(db: Database, monkeypatch: pytest.MonkeyPatch) -> Database:
    monkeypatch.setenv("COINS_DATABASE_URL", db.url)
    monkeypatch.setenv("COINS_JWT_SECRET", SECRET)
    return db


def test_seed_is_idempotent_and_token_names_the_user(
    cli_env: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["seed"]) == 0
    first = capsys.readouterr().out
    assert main(["seed"]) == 0
    second = capsys.readouterr().out

    assert "user viewer" in first
    assert "welcome coins" in first
    assert second.strip() == "demo data already present"
    assert main(["token", "viewer"]) == 0
    token = capsys.readouterr().out.strip()
    assert user_id_from_token(token, AuthSettings(jwt_secret=SECRET)) is not None
    assert main(["token", "nobody"]) == 1


def test_users_create_reads_the_password_from_stdin(
    cli_env: Database, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("a fine long password\n"))
    assert main(["users", "create", "grace", "--birth-date", "1990-01-01"]) == 0
    assert "created user grace" in capsys.readouterr().out

    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["users", "create", "hopper", "--birth-date", "1990-01-01"]) == 1
    assert "INVALID_INPUT (password)" in capsys.readouterr().err


@pytest.mark.tampers
def test_ledger_verify_exits_non_zero_naming_the_breach(
    cli_env: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["seed"]) == 0
    assert main(["ledger", "verify"]) == 0
    assert "ledger OK" in capsys.readouterr().out

    async def tamper() -> None:
        await Account.update({Account.balance: Account.balance + 5}).where(
            Account.user_id.is_not_null()
        )

    run_sync(tamper())
    assert main(["ledger", "verify"]) == 1
    captured = capsys.readouterr()
    assert "BREACH [balance]" in captured.out
    assert "BREACH [zero-sum]" in captured.out
    assert "ledger FAILED" in captured.err


def test_schema_graphql_is_up_to_date(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export-schema", "--check"]) == 0, capsys.readouterr().err


def test_serve_passes_workers_to_uvicorn_with_the_app_factory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Several workers need an import string: each worker process builds its own app."""
    import uvicorn

    calls: list[tuple[tuple, dict]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: calls.append((a, k)))

    assert main(["serve", "--workers", "3", "--port", "8123"]) == 0

    ((args, options),) = calls
    assert args == ("app.main:create_app",)
    assert options["factory"] is True
    assert options["workers"] == 3
    assert options["port"] == 8123
    # No logging config of uvicorn's own: its access lines go through structlog (JSON in
    # production), like every other line.
    assert options["log_config"] is None


@pytest.mark.parametrize(
    ("host", "env", "served"),
    [
        ("0.0.0.0", None, False),  # noqa: S104
        ("192.0.2.10", None, False),
        ("127.0.0.1", None, True),
        ("0.0.0.0", "development", True),  # noqa: S104
    ],
)
def test_development_serves_beyond_loopback_only_when_said_out_loud(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    host: str,
    env: str | None,
    served: bool,
) -> None:
    import uvicorn

    calls: list[dict] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: calls.append(k))
    monkeypatch.delenv("COINS_ENV", raising=False)
    if env:
        monkeypatch.setenv("COINS_ENV", env)

    code = main(["serve", "--host", host])

    assert (code == 0, len(calls) == 1) == (served, served)
    if not served:
        assert "COINS_ENV" in capsys.readouterr().err


def test_a_development_token_from_the_cli_is_accepted_by_the_server(
    db: Database, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from app.settings import Settings

    monkeypatch.setenv("COINS_DATABASE_URL", db.url)
    monkeypatch.delenv("COINS_JWT_SECRET", raising=False)
    monkeypatch.delenv("COINS_ENV", raising=False)
    assert main(["seed"]) == 0
    capsys.readouterr()

    assert main(["token", "viewer"]) == 0
    token = capsys.readouterr().out.strip()

    assert user_id_from_token(token, Settings.from_env().auth) is not None

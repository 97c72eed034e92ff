"""``coins serve --workers N``: a scrape reaches one worker and must still count them all
(prometheus-client's multiprocess mode, which ``coins serve`` sets up by itself)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from app.cli import worker_metrics
from tests.conftest import Database
from tests.observability.scrape import Scrape
from tests.streams.live import free_port

COINS = str(Path(sys.executable).with_name("coins"))


def test_several_workers_get_a_fresh_shared_directory_of_their_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)

    with worker_metrics(2):
        made = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
        assert made.is_dir()
        assert not any(made.iterdir())

    assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ
    assert not made.exists()


def test_an_operators_directory_is_emptied_of_an_earlier_runs_counts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    for name in ("counter_41.db", "histogram_41.db", "gauge_livesum_41.db", "notes.txt"):
        (tmp_path / name).write_text("x")

    with worker_metrics(2):
        left = sorted(p.name for p in tmp_path.iterdir())

    assert left == ["notes.txt"]
    assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == str(tmp_path)


def test_one_worker_is_left_as_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)

    with worker_metrics(1):
        assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ


# The workers' counts do not depend on the database: SQLite only.
@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_two_workers_add_up_in_every_scrape(db: Database) -> None:
    """Forty requests on forty connections land on both workers (the kernel spreads the
    accepts); each scrape, whichever worker answers it, must count all forty."""
    port = free_port()
    env = {key: value for key, value in os.environ.items() if key != "PROMETHEUS_MULTIPROC_DIR"}
    env.update(COINS_DATABASE_URL=db.url, COINS_ENV="test")
    server = subprocess.Popen(
        [COINS, "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    query = {"query": "query AcrossWorkers { economy { creatorShare } }"}
    try:
        _wait_until_ready(base, server)
        for _ in range(40):
            with httpx.Client(base_url=base, timeout=10) as fresh:  # a new connection each
                assert fresh.get("/graphql", params=query).status_code == 200
        counts = []
        for _ in range(6):
            with httpx.Client(base_url=base, timeout=10) as fresh:
                scraped = Scrape(fresh.get("/metrics").text)
            counts.append(
                scraped.value(
                    "coins_graphql_requests_total", operation="AcrossWorkers", outcome="ok"
                )
            )
    finally:
        server.terminate()
        server.wait(timeout=30)

    assert counts == [40] * 6


def _wait_until_ready(base: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail("coins serve stopped while starting")
        try:
            # Both workers up: each answers the probe on its own connection.
            if all(httpx.get(f"{base}/readyz", timeout=2).status_code == 200 for _ in range(4)):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    pytest.fail("coins serve did not become ready")

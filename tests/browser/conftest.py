"""A real server on localhost and Debian's Chromium driven by Playwright.

Never ``playwright install``: the browser is the system's ``/usr/bin/chromium`` (the
Makefile installs it with apt-get when missing). Without it the browser tests skip, except
under ``CI=true``, where they fail.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from app.main import create_app
from tests.conftest import IN_CI, Database, fresh_database

CHROMIUM = os.environ.get("COINS_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).parent / "artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(params=["sqlite"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A browser test runs on SQLite alone: it proves the pages and scripts a person uses,
    and what their requests do to the database is tested over HTTP on both databases (in
    tests/admin, tests/gifts ...). Twice, it was a browser session more each (~3 s)."""
    yield from fresh_database(request, tmp_path)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(autouse=True)
def _pools_closed() -> None:
    """Overrides the async check of tests/conftest.py: Playwright's sync API keeps an event
    loop running on the main thread, where pytest-asyncio cannot run an async fixture. The
    server's pool lives on its own thread and closes with it."""


@pytest.fixture
def live_server(db: Database) -> Iterator[str]:
    """The app served by uvicorn in a thread, against this test's database."""
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(db.settings()), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the test server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser():
    """One browser per module: Playwright's sync API holds the main thread's event loop."""
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        if IN_CI:
            pytest.fail(f"{CHROMIUM} is missing; `make test` installs Debian's chromium")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser, live_server: str):
    context = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    opened.set_default_timeout(15_000)
    yield opened
    context.close()


def screenshot(page, name: str) -> Path:
    """Keep a picture for a person to look at (tests/browser/artifacts is ignored by git)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path

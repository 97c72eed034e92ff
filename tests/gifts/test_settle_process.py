"""``COINS_SETTLER=process``: one ``coins settle`` credits the gifts every app process
queues, off the event loops that answer requests; stopped, it settles what is left first,
and ``coins serve`` starts it again when it dies."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from app.gifts.settlement import exact_balances
from app.gifts.tables import GiftCredit
from app.ledger import Currency, user_balances
from app.settings import Settings, SettingsError
from tests.conftest import Database
from tests.factories import make_gift, make_stream, make_user, send
from tests.streams.live import free_port

COINS = str(Path(sys.executable).with_name("coins"))


def _env(db: Database, **more: str) -> dict[str, str]:
    return {**os.environ, "COINS_DATABASE_URL": db.url, "COINS_ENV": "test", **more}


async def _drained(timeout_s: float = 30) -> None:
    async with asyncio.timeout(timeout_s):
        while await GiftCredit.count():  # noqa: ASYNC110 - another process settles
            await asyncio.sleep(0.05)


async def test_coins_settle_credits_what_is_queued_and_settles_the_rest_when_stopped(
    db: Database,
) -> None:
    host, viewer = await make_user(), await make_user(coins=100)
    stream, gift = await make_stream(host), await make_gift(coins=3)
    for _ in range(4):
        await send(viewer, stream, gift)
    owed = (await exact_balances([host.id]))[host.id][Currency.DIAMOND]
    assert await GiftCredit.count() == 4  # nobody settles in this process
    assert (await user_balances([host.id]))[host.id][Currency.DIAMOND] == 0

    # It looks at once, then every 30 s: gifts sent after the first look wait for the next.
    settler = await asyncio.create_subprocess_exec(
        COINS,
        "settle",
        "--poll-ms",
        "30000",
        env=_env(db),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert settler.stdout is not None
    try:
        await _drained()
        settled = (await user_balances([host.id]))[host.id][Currency.DIAMOND]
        await send(viewer, stream, gift)
        await send(viewer, stream, gift)
        left = await GiftCredit.count()
        settler.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            output = (await settler.stdout.read()).decode()
            code = await settler.wait()
    finally:
        if settler.returncode is None:
            settler.kill()

    assert settled == owed == 4 * 2  # 3 coins at a half share: 2 diamonds (half up)
    assert left == 2  # queued when the stop came, between two looks
    assert code == 0
    assert "settler.stopped_cleanly" in output
    assert await GiftCredit.count() == 0
    assert (await user_balances([host.id]))[host.id][Currency.DIAMOND] == 6 * 2


def test_the_settler_setting_takes_app_or_process() -> None:
    assert Settings.from_env({}).settler == "app"
    assert Settings.from_env({"COINS_SETTLER": "process"}).settler == "process"
    assert Settings.from_env({"COINS_SETTLER": "external"}).settler == "external"
    with pytest.raises(SettingsError, match="COINS_SETTLER must be one of app, process, ext"):
        Settings.from_env({"COINS_SETTLER": "cron"})


def test_coins_settle_refuses_options_out_of_range() -> None:
    for option, value, refusal in (
        ("--poll-ms", "0", "--poll-ms is 1 to 60000"),
        ("--poll-ms", "60001", "--poll-ms is 1 to 60000"),
        ("--nice", "20", "--nice is 0 to 19"),
    ):
        done = subprocess.run(
            [COINS, "settle", option, value], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 2
        assert refusal in done.stderr


# Starting and restarting a process does not depend on the database: SQLite only.
@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
async def test_coins_serve_runs_one_settler_and_starts_it_again_when_it_dies(
    db: Database,
) -> None:
    host, viewer = await make_user(), await make_user(coins=100)
    stream, gift = await make_stream(host), await make_gift(coins=2)
    port = free_port()
    server = await asyncio.create_subprocess_exec(
        *(COINS, "serve", "--port", str(port)),
        env=_env(db, COINS_SETTLER="process"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        await _ready(f"http://127.0.0.1:{port}", server)
        first = await _settler_of(server.pid)
        await send(viewer, stream, gift)
        await _drained()

        # Paused, nobody settles: the app's workers do not (their idle look is every
        # 0.25 s), and there is one settler, not two.
        os.kill(first, signal.SIGSTOP)
        await send(viewer, stream, gift)
        await asyncio.sleep(1)
        paused_with = await GiftCredit.count()

        os.kill(first, signal.SIGKILL)
        second = await _settler_of(server.pid, other_than=first)
        await _drained()
        await send(viewer, stream, gift)
        await _drained()
    finally:
        server.terminate()
        async with asyncio.timeout(30):
            await server.wait()

    assert paused_with == 1
    assert (await user_balances([host.id]))[host.id][Currency.DIAMOND] == 3
    async with asyncio.timeout(10):  # it notices its parent is gone within half a second
        while _alive(second):  # noqa: ASYNC110 - another process's state
            await asyncio.sleep(0.1)


async def _ready(base: str, server: asyncio.subprocess.Process) -> None:
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient(base_url=base, timeout=2) as client:
        while time.monotonic() < deadline:
            if server.returncode is not None:
                pytest.fail("coins serve stopped while starting")
            try:
                if (await client.get("/readyz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    pytest.fail("coins serve did not become ready")


async def _settler_of(parent: int, other_than: int | None = None) -> int:
    """The pid of ``parent``'s ``coins settle`` child (a new one, with ``other_than``)."""
    async with asyncio.timeout(30):
        while (found := _child_settler(parent, other_than)) is None:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
    return found


def _child_settler(parent: int, other_than: int | None) -> int | None:
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == other_than:
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if int(ppid) == parent and b"settle" in command and state != "Z":
            return int(entry.name)
    return None


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"

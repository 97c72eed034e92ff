"""The benchmark's money checks pass on honest sends and fail when money is missing."""

from __future__ import annotations

from fractions import Fraction

import asyncpg
import pytest

from bench import checks
from tests.conftest import Database
from tests.factories import make_gift, make_stream, make_user, send


async def test_checks_pass_honest_sends_and_catch_missing_money(db: Database) -> None:
    if db.backend != "postgres":
        pytest.skip("the benchmark runs on PostgreSQL only")
    viewer = await make_user(coins=10)
    host = await make_user()
    stream = await make_stream(host)
    rose, doughnut = await make_gift(coins=1), await make_gift(coins=3)
    connection = await asyncpg.connect(db.url)
    try:
        before = await checks.state(connection, [viewer.id], [host.id], floor=False)
        await send(viewer, stream, rose)
        await send(viewer, stream, doughnut, quantity=2)

        async def check(succeeded: int = 2, failed: int = 0) -> dict[str, int]:
            return await checks.check_sends(
                connection,
                before,
                viewers=[viewer.id],
                creators=[host.id],
                share=Fraction(1, 2),
                succeeded=succeeded,
                failed=failed,
                settle_s=0.1,
            )

        # 1 + 6 coins; diamonds rounded half up per gift: 1 + 2 x 2.
        assert await check() == {"events": 2, "coins": 7, "diamonds": 5}
        # A send the load generator saw succeed must have its gift event.
        with pytest.raises(checks.MoneyMissing, match="3 sends succeeded"):
            await check(succeeded=3)
        assert await check(succeeded=1, failed=1)  # a timeout may still have committed

        await connection.execute(
            "UPDATE live_stream SET coins_received = coins_received - 1 WHERE id = $1", stream.id
        )
        with pytest.raises(checks.MoneyMissing, match="stream totals differ"):
            await check()
        await connection.execute(
            "UPDATE live_stream SET coins_received = coins_received + 1 WHERE id = $1", stream.id
        )
    finally:
        await connection.close()

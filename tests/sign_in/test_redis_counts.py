"""The sign-in limits' counts in Redis: shared by every process, digests for keys, and
still enforced (per process) when Redis is unreachable."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from limits import parse_many

from app.core.errors import DomainError, ErrorCode
from app.settings import SignInSettings
from app.sign_in import SignInThrottle, create_throttle
from tests.conftest import IN_CI

REDIS_URL = os.environ.get("COINS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    """A key prefix of this test's own; its keys are deleted after it."""
    client = aioredis.from_url(REDIS_URL)
    try:
        await client.ping()
    except (OSError, aioredis.RedisError) as error:
        await client.aclose()
        if IN_CI:
            pytest.fail(f"Redis at {REDIS_URL} is unreachable: {error}")
        pytest.skip(f"Redis unreachable: {error}")
    name = f"coins-test-limits-{uuid.uuid4().hex}"
    yield name
    keys = [key async for key in client.scan_iter(match=f"{name}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


def settings(prefix: str = "unused") -> SignInSettings:
    return SignInSettings(
        ip_limits=tuple(parse_many("100/minute")),
        handle_limits=tuple(parse_many("3/minute")),
        free_failures=2,
        backoff_base_s=60,
        key_prefix=prefix,
    )


async def refused(throttle: SignInThrottle, ip: str) -> DomainError:
    with pytest.raises(DomainError) as caught:
        await throttle.admit("user", handle="ada.l", ip=ip)
    assert caught.value.code is ErrorCode.RATE_LIMITED
    return caught.value


async def test_two_processes_share_one_count_per_handle_in_redis(prefix: str) -> None:
    first = create_throttle(settings(prefix), REDIS_URL)
    second = create_throttle(settings(prefix), REDIS_URL)
    try:
        await first.admit("user", handle="ada.l", ip="192.0.2.1")
        await second.admit("user", handle="ada.l", ip="192.0.2.2")
        await first.admit("user", handle="ada.l", ip="192.0.2.3")

        fourth = await refused(second, "192.0.2.4")
    finally:
        await first.close()
        await second.close()

    assert fourth.message.startswith("Too many sign-in attempts for this handle. Try again in")
    client = aioredis.from_url(REDIS_URL)
    keys = [key.decode() async for key in client.scan_iter(f"{prefix}*")]
    await client.aclose()
    assert keys
    assert not [key for key in keys if "ada.l" in key or "192.0.2" in key]


async def test_a_wait_set_by_one_process_holds_in_another(prefix: str) -> None:
    first = create_throttle(settings(prefix), REDIS_URL)
    second = create_throttle(settings(prefix), REDIS_URL)
    try:
        for _ in range(2):
            await first.failed(await first.admit("user", handle="ada.l", ip="192.0.2.1"))

        waiting = await refused(second, "192.0.2.2")
    finally:
        await first.close()
        await second.close()

    assert waiting.message == "Too many failed sign-ins for this handle. Try again in 60 seconds."


async def test_limits_hold_in_memory_when_redis_is_unreachable() -> None:
    throttle = create_throttle(settings(), "redis://127.0.0.1:1/0")  # nothing listens there
    try:
        for n in range(3):
            await throttle.admit("user", handle="ada.l", ip=f"192.0.2.{n}")

        fourth = await refused(throttle, "192.0.2.9")
    finally:
        await throttle.close()

    assert "Try again in" in fourth.message

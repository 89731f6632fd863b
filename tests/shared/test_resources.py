"""The pooled Redis client every process opens (shared.resources.create_redis)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from shared.resources import create_redis
from tests.support.redis_process import RedisProcess

POOLED = 8


async def test_every_pooled_connection_reconnects_after_a_redis_restart(tmp_path: Path) -> None:
    server = RedisProcess(tmp_path)
    server.start()
    redis = create_redis(server.url)
    try:
        # Several connections in the pool, all open on the server about to die.
        assert await asyncio.gather(*(redis.ping() for _ in range(POOLED))) == [True] * POOLED
        assert len(redis.connection_pool._available_connections) == POOLED
        server.kill()
        server.start()  # same port, a new process: every pooled socket is dead
        # Each call meets a dead connection, and replaces it instead of failing.
        answers = await asyncio.gather(
            *(redis.ping() for _ in range(POOLED)), return_exceptions=True
        )
        assert answers == [True] * POOLED
        assert await redis.incr("after-restart") == 1
    finally:
        await redis.aclose()
        server.kill()


async def test_redis_down_still_fails_fast_and_a_frozen_one_is_not_retried(
    tmp_path: Path,
) -> None:
    server = RedisProcess(tmp_path)
    server.start()
    redis = create_redis(server.url)
    try:
        assert await redis.ping()
        server.freeze()
        loop = asyncio.get_running_loop()
        began = loop.time()
        with pytest.raises(RedisTimeoutError):
            await redis.ping()
        # One socket timeout (2 s), not one per retry.
        assert loop.time() - began < 3.9
        server.thaw()
        server.kill()
        with pytest.raises(RedisConnectionError):
            await redis.ping()
    finally:
        await redis.aclose()
        server.kill()


async def test_a_client_without_the_password_is_refused(tmp_path: Path) -> None:
    """The tests' own Redis wants the password, as the platform's does."""
    server = RedisProcess(tmp_path)
    server.start()
    anonymous = create_redis(f"redis://127.0.0.1:{server.port}/0")
    try:
        with pytest.raises(RedisError, match="authenticated"):
            await anonymous.ping()
    finally:
        await anonymous.aclose()
        server.kill()

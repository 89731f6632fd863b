"""The ``limits`` library's async Redis storage, on redis-py alone.

``limits`` imports every Redis client it supports (redis-py, coredis, valkey) the first
time a storage asks for its dependencies, whichever one it then uses; coredis brings
NumPy with it. Measured: 36 MiB of resident memory in each process that builds a
storage (auth's throttles, profile's live-connect cap), for a client never used.
"""

from __future__ import annotations

from typing import Any

from limits.aio.storage import RedisStorage
from packaging.version import Version
from redis.asyncio import Redis


class RedispyStorage(RedisStorage):
    """A :class:`limits.aio.storage.RedisStorage` that knows only redis-py."""

    DEPENDENCIES = {"redis": Version("5.2.0")}


def redis_storage(url: str, redis: Redis, key_prefix: str) -> RedispyStorage:
    """A storage on ``redis``'s connection pool (no pool of its own), keys under
    ``key_prefix``."""
    options: dict[str, Any] = {"connection_pool": redis.connection_pool}
    return RedispyStorage(
        "async+" + url.removeprefix("async+"),
        implementation="redispy",
        key_prefix=key_prefix,
        **options,
    )

"""Liveness of processes that serve no HTTP (the parse worker): a Redis key with a
short TTL, refreshed every few seconds. Present = alive. Beside it, what the worker
can do (its converters), published the same way."""

from __future__ import annotations

import json
import time
from typing import Any

from redis.asyncio import Redis

WORKER_HEARTBEAT_KEY = "quarry:worker:heartbeat"
HEARTBEAT_TTL_SECONDS = 15


async def beat(
    redis: Redis, key: str = WORKER_HEARTBEAT_KEY, ttl: int = HEARTBEAT_TTL_SECONDS
) -> None:
    """Record that the process is alive now (the key expires ``ttl`` seconds later)."""
    await redis.set(key, f"{time.time():.3f}", ex=ttl)


async def last_beat(redis: Redis, key: str = WORKER_HEARTBEAT_KEY) -> float | None:
    """When the process last beat (Unix time), or None if it has not within the TTL."""
    value = await redis.get(key)
    return float(value) if value is not None else None


# What the worker can do (its document converters, found at start-up), for
# /monitoring/detailed: refreshed with a TTL, so a stopped worker's report goes away.
WORKER_CAPABILITIES_KEY = "quarry:worker:capabilities"
CAPABILITIES_TTL_SECONDS = 120


async def publish_capabilities(
    redis: Redis,
    capabilities: dict[str, Any],
    key: str = WORKER_CAPABILITIES_KEY,
    ttl: int = CAPABILITIES_TTL_SECONDS,
) -> None:
    """Record what this process can do (JSON), for ``ttl`` seconds."""
    await redis.set(key, json.dumps(capabilities, sort_keys=True), ex=ttl)


async def read_capabilities(
    redis: Redis, key: str = WORKER_CAPABILITIES_KEY
) -> dict[str, Any] | None:
    """The last published capabilities, or None (none within the TTL, or unreadable)."""
    value = await redis.get(key)
    if value is None:
        return None
    try:
        decoded = json.loads(value)
    except ValueError:
        return None
    return decoded if isinstance(decoded, dict) else None

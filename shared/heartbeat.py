"""Liveness of processes that serve no HTTP (the parse worker): a Redis key with a
short TTL, refreshed every few seconds. Present = alive."""

from __future__ import annotations

import time

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

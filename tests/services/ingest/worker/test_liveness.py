"""The worker's liveness: a heartbeat in Redis for the platform's health, and a file
touched at every beat for a per-process probe (Kubernetes), even while Redis is away."""

from __future__ import annotations

import asyncio
from pathlib import Path

from redis.asyncio import Redis

from deploy.backing import BackingServices
from services.ingest.worker.liveness import keep_beating
from shared.heartbeat import last_beat


async def beats_until(path: Path, redis: Redis, *, touches: int) -> None:
    stopping = asyncio.Event()
    task = asyncio.create_task(keep_beating(redis, 0.05, stopping, path))
    seen: set[int] = set()
    try:
        async with asyncio.timeout(60):
            while len(seen) < touches:
                if path.exists():
                    seen.add(path.stat().st_mtime_ns)
                await asyncio.sleep(0.01)
    finally:
        stopping.set()
        await task


async def test_each_beat_touches_the_liveness_file(
    backing: BackingServices, tmp_path: Path
) -> None:
    # Database 9, not the session platform's 0: its worker's heartbeat is the same key.
    redis = Redis.from_url(backing.redis_url.rsplit("/", 1)[0] + "/9")
    try:
        await beats_until(tmp_path / "alive", redis, touches=3)
        assert await last_beat(redis) is None  # removed on a clean stop
    finally:
        await redis.aclose()


async def test_the_file_is_touched_while_redis_is_away(tmp_path: Path) -> None:
    nothing_listens = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    try:
        await beats_until(tmp_path / "alive", nothing_listens, touches=2)
    finally:
        await nothing_listens.aclose()

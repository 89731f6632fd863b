"""The worker's heartbeat in Redis: the launcher and the gateway's health read it."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from redis.asyncio import Redis

from shared.heartbeat import WORKER_HEARTBEAT_KEY, beat
from shared.log import get_logger

log = get_logger("services.ingest.worker")


async def keep_beating(
    redis: Redis, interval: float, stopping: asyncio.Event, liveness_file: Path | None = None
) -> None:
    """Beat every ``interval`` seconds until ``stopping``; then remove the key, so the
    worker's absence shows at once rather than when the key expires. ``liveness_file``
    is touched at every beat, Redis or not: this process's loop is alive."""
    while not stopping.is_set():
        if liveness_file is not None:
            await asyncio.to_thread(liveness_file.touch)
        try:
            await beat(redis)
        except Exception as exc:  # Redis away: keep consuming, beat again later
            log.warning("heartbeat_failed", error=f"{type(exc).__name__}: {exc}")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), interval)
    with contextlib.suppress(Exception):
        await redis.delete(WORKER_HEARTBEAT_KEY)

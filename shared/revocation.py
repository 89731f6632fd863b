"""Revoked sessions, keys and token families, felt everywhere within milliseconds.

Auth records a revoked handle (``sid`` claim) in a Redis sorted set scored by
when its last access token expires, and publishes it. Every verifier keeps the
set in memory, loaded at start and on every reconnect, updated by pub/sub, so a
revocation check costs no network round trip.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

from redis.asyncio import Redis

from shared.backoff import Backoff
from shared.log import get_logger

REVOKED_KEY = "quarry:revoked"
REVOCATION_CHANNEL = "quarry:revocations"
log = get_logger("shared.revocation")


async def publish_revocation(redis: Redis, handle: str, expires_at: float) -> None:
    """Record ``handle`` as revoked until ``expires_at`` and tell every listener."""
    now = time.time()
    async with redis.pipeline(transaction=True) as pipe:
        pipe.zadd(REVOKED_KEY, {handle: expires_at})
        pipe.zremrangebyscore(REVOKED_KEY, "-inf", now)
        pipe.publish(REVOCATION_CHANNEL, handle)
        await pipe.execute()


class RevocationList:
    """In-memory mirror of the revoked handles, kept current by Redis pub/sub."""

    def __init__(self, redis: Redis, *, reconnect: Backoff | None = None) -> None:
        self._redis = redis
        self._revoked: dict[str, float] = {}
        self._listeners: list[Callable[[str], None]] = []
        self._task: asyncio.Task[None] | None = None
        # Jittered: replicas that lost Redis together do not reconnect in lock-step.
        self._reconnect = reconnect or Backoff(base=0.2, cap=5.0)
        self.connected = False

    def on_revoke(self, listener: Callable[[str], None]) -> None:
        self._listeners.append(listener)

    def is_revoked(self, handle: str | None) -> bool:
        if handle is None:
            return False
        until = self._revoked.get(handle)
        return until is not None and until > time.time()

    def _add(self, handle: str, until: float) -> None:
        self._revoked[handle] = until
        for listener in self._listeners:
            listener(handle)

    async def _load(self) -> None:
        now = time.time()
        entries = await self._redis.zrangebyscore(REVOKED_KEY, now, "+inf", withscores=True)
        for entry in entries:
            member, score = entry[0], entry[1]
            handle = member.decode() if isinstance(member, bytes) else str(member)
            self._add(handle, float(score))
        self._revoked = {h: t for h, t in self._revoked.items() if t > now}

    async def _run(self) -> None:
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.subscribe(REVOCATION_CHANNEL)
                    await self._load()  # after subscribing, so nothing falls in between
                    self.connected = True
                    self._reconnect.reset()
                    async for message in pubsub.listen():
                        if message.get("type") != "message":
                            continue
                        data = message["data"]
                        handle = data.decode() if isinstance(data, bytes) else str(data)
                        score = await self._redis.zscore(REVOKED_KEY, handle)
                        self._add(handle, float(score) if score else time.time() + 3600)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis down: keep serving, retry
                if self.connected:
                    log.warning("revocation_feed_lost", error=str(exc))
                self.connected = False
                await asyncio.sleep(self._reconnect.next())

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="revocation-feed")
        # Give the first load a moment so a fresh process starts with the list.
        for _ in range(50):
            if self.connected:
                break
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

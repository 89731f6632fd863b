"""Revoked sessions, keys and token families, felt everywhere within milliseconds.

Auth records a revoked handle (``sid`` claim) in a Redis sorted set scored by
when its last access token expires, and publishes it. Every verifier keeps the
set in memory, loaded at start and on every reconnect, updated by pub/sub, so a
revocation check costs no network round trip.

While Redis is down, a verifier given a ``fallback`` feed (auth's durable
``/internal/revocations``, read from its database with a cursor) polls it every
``poll_seconds``, so a revocation made during the outage still reaches it within
seconds (:func:`remote_revocations` reads it over HTTP).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from redis.asyncio import Redis

from shared.backoff import Backoff
from shared.log import get_logger
from shared.tasks import stop_tasks

if TYPE_CHECKING:  # only the helpers below take an httpx client
    import httpx

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


# since (the previous answer's cursor, None for everything) -> (revoked, next cursor)
RevocationFeed = Callable[[float | None], Awaitable[tuple[list[tuple[str, float]], float]]]


def remote_revocations(client: httpx.AsyncClient, url: str, internal_token: str) -> RevocationFeed:
    """Auth's ``/internal/revocations`` (``url``) as a :data:`RevocationFeed`."""

    async def feed(since: float | None) -> tuple[list[tuple[str, float]], float]:
        params = {} if since is None else {"since": since}
        response = await client.get(
            url, params=params, headers={"X-Internal-Token": internal_token}
        )
        response.raise_for_status()
        body = response.json()
        revoked = [(str(e["handle"]), float(e["until"])) for e in body["revoked"]]
        return revoked, float(body["cursor"])

    return feed


class RevocationList:
    """In-memory mirror of the revoked handles, kept current by Redis pub/sub (and by
    the ``fallback`` feed while pub/sub is down)."""

    def __init__(
        self,
        redis: Redis,
        *,
        reconnect: Backoff | None = None,
        fallback: RevocationFeed | None = None,
        poll_seconds: float = 2.0,
    ) -> None:
        self._redis = redis
        self._revoked: dict[str, float] = {}
        self._listeners: list[Callable[[str], None]] = []
        self._task: asyncio.Task[None] | None = None
        self._poller: asyncio.Task[None] | None = None
        # Jittered: replicas that lost Redis together do not reconnect in lock-step.
        self._reconnect = reconnect or Backoff(base=0.2, cap=5.0)
        self._fallback = fallback
        self._poll_seconds = poll_seconds
        self._cursor: float | None = None
        self._poll_failing = False
        self.connected = False
        self.polled_at: float | None = None  # monotonic, the last successful fallback poll
        self.polls = 0

    @property
    def synced(self) -> bool:
        """Whether revocations are arriving: pub/sub is up, or the fallback answered lately."""
        if self.connected:
            return True
        return self.polled_at is not None and (
            time.monotonic() - self.polled_at < 3 * self._poll_seconds
        )

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

    async def _poll_while_disconnected(self) -> None:
        assert self._fallback is not None
        while True:
            if not self.connected:
                try:
                    revoked, cursor = await self._fallback(self._cursor)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    if not self._poll_failing:
                        log.warning("revocation_fallback_failed", error=repr(exc))
                    self._poll_failing = True
                else:
                    now = time.time()
                    for handle, until in revoked:
                        if until > now and handle not in self._revoked:
                            self._add(handle, until)
                    self._cursor = cursor
                    self._poll_failing = False
                    self.polled_at = time.monotonic()
                    self.polls += 1
            await asyncio.sleep(self._poll_seconds)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="revocation-feed")
        # Give the first load a moment so a fresh process starts with the list.
        for _ in range(50):
            if self.connected:
                break
            await asyncio.sleep(0.02)
        if self._fallback is not None:  # from now on it polls whenever pub/sub is down
            self._poller = asyncio.create_task(
                self._poll_while_disconnected(), name="revocation-fallback"
            )

    async def stop(self) -> None:
        await stop_tasks([self._task, self._poller])

"""Waiting for a job: the one mechanism behind the synchronous Skype upload,
``Prefer: wait=N`` on ``GET /jobs/{id}``, ``GET /jobs/{id}/events`` (SSE) and the
Files synchronous wait.

Every change of a job is committed first, then published on the Redis channel
``quarry:jobs:<id>``. Each ingest process holds ONE pattern subscription
(:class:`JobEvents`) and wakes the local waiters of that job; a waiter then re-reads
the job from the database (the source of truth) and also re-reads it every
``reread_seconds`` on its own, so a lost Redis message, or Redis being away, only
delays an answer, never loses it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, TypeVar

from redis.asyncio import Redis

from shared.log import get_logger

log = get_logger("services.ingest.service.waiting")

CHANNEL_PREFIX = "quarry:jobs:"
T = TypeVar("T")


def channel(job_id: str) -> str:
    return f"{CHANNEL_PREFIX}{job_id}"


class JobEvents:
    """One Redis pattern subscription per process, fanned out to local waiters."""

    def __init__(self, redis: Redis, *, reconnect_seconds: float = 1.0) -> None:
        self._redis = redis
        self._reconnect = reconnect_seconds
        self._waiters: dict[str, set[asyncio.Event]] = {}
        self.connected = False

    async def publish(self, job_id: str) -> None:
        """Tell every process's waiters that ``job_id`` changed (after the commit)."""
        try:
            await self._redis.publish(channel(job_id), b"changed")
        except Exception as exc:  # waiters re-read the database on their own
            log.warning("job_event_publish_failed", job_id=job_id, error=repr(exc))

    @contextlib.contextmanager
    def subscribe(self, job_id: str) -> Iterator[asyncio.Event]:
        """An event set whenever ``job_id`` changes (clear it after each wake-up)."""
        event = asyncio.Event()
        self._waiters.setdefault(job_id, set()).add(event)
        try:
            yield event
        finally:
            waiters = self._waiters.get(job_id)
            if waiters is not None:
                waiters.discard(event)
                if not waiters:
                    del self._waiters[job_id]

    def _wake(self, job_id: str) -> None:
        for event in self._waiters.get(job_id, ()):
            event.set()

    def _wake_all(self) -> None:
        for waiters in self._waiters.values():
            for event in waiters:
                event.set()

    async def run(self) -> None:
        """Listen until cancelled, reconnecting after a Redis failure."""
        while True:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.psubscribe(f"{CHANNEL_PREFIX}*")
                self.connected = True
                # Changes may have been missed while (re)connecting: everyone re-reads.
                self._wake_all()
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is None:
                        continue
                    name = message.get("channel", b"")
                    if isinstance(name, bytes):
                        name = name.decode()
                    if name.startswith(CHANNEL_PREFIX):
                        self._wake(name[len(CHANNEL_PREFIX) :])
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.connected = False
                log.warning("job_events_disconnected", error=repr(exc))
                await asyncio.sleep(self._reconnect)
            finally:
                self.connected = False
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]


async def watch(
    events: JobEvents,
    job_id: str,
    read: Callable[[], Awaitable[T]],
    *,
    is_final: Callable[[T], bool],
    timeout: float,
    reread_seconds: float,
    keepalive_seconds: float | None = None,
) -> AsyncIterator[T | None]:
    """Yield the job as ``read`` gives it: now, then at every change, until it is final
    or ``timeout`` passes. With ``keepalive_seconds``, ``None`` is yielded when nothing
    changed for that long (an SSE stream's comment line)."""
    deadline = time.monotonic() + timeout
    with events.subscribe(job_id) as changed:
        current = await read()
        yield current
        last_sent = time.monotonic()
        while not is_final(current):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            wait = min(remaining, reread_seconds)
            if keepalive_seconds is not None:
                wait = min(wait, max(0.0, keepalive_seconds - (time.monotonic() - last_sent)))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), wait)
            changed.clear()
            latest = await read()
            if latest != current:
                current = latest
                last_sent = time.monotonic()
                yield current
            elif (
                keepalive_seconds is not None and time.monotonic() - last_sent >= keepalive_seconds
            ):
                last_sent = time.monotonic()
                yield None


async def wait_until_final(
    events: JobEvents,
    job_id: str,
    read: Callable[[], Awaitable[T]],
    *,
    is_final: Callable[[T], bool],
    timeout: float,
    reread_seconds: float,
) -> T:
    """The job once final, or as it is when ``timeout`` passes."""
    last: Any = None
    async for snapshot in watch(
        events, job_id, read, is_final=is_final, timeout=timeout, reread_seconds=reread_seconds
    ):
        last = snapshot
    result: T = last
    return result

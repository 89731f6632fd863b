"""One Redis pub/sub connection per replica, shared by everything that listens:
profile invalidations, live control messages, and the comment channels of the
WebSocket sessions this replica serves.

Channels are subscribed while the reader runs (a subscribe only writes to the
connection; the reader task is the only one that reads). A lost connection is
re-established with backoff and every channel subscribed again.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable

from redis.asyncio import Redis

from shared.log import get_logger

log = get_logger("services.profile.bus")
Handler = Callable[[bytes], None]


class Bus:
    def __init__(self, redis: Redis, *, keepalive_channel: str) -> None:
        self._redis = redis
        self._handlers: dict[str, list[Handler]] = {}
        self._keepalive = keepalive_channel
        self._pubsub = redis.pubsub()
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()
        self.received = 0
        # Subscriptions Redis has not confirmed yet.
        self._confirmations: dict[str, asyncio.Event] = {}

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="profile-bus")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.connected.wait(), 5.0)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait({self._task}, timeout=3.0)
        with contextlib.suppress(Exception):
            await self._pubsub.aclose()  # type: ignore[no-untyped-call]

    async def publish(self, channel: str, payload: bytes) -> int:
        return int(await self._redis.publish(channel, payload))

    async def subscribe(self, channel: str, handler: Handler) -> None:
        """Listen on ``channel``; returns once Redis confirmed the subscription (so a
        message published after this returns is received), or after 2 s."""
        handlers = self._handlers.setdefault(channel, [])
        handlers.append(handler)
        if len(handlers) == 1 and self.connected.is_set():
            confirmed = self._confirmations.setdefault(channel, asyncio.Event())
            try:
                await self._pubsub.subscribe(channel)
                await asyncio.wait_for(confirmed.wait(), 2.0)
            except Exception as exc:  # the reader reconnects and resubscribes everything
                log.warning("bus_subscribe_failed", channel=channel, error=str(exc))
            finally:
                self._confirmations.pop(channel, None)

    async def unsubscribe(self, channel: str, handler: Handler) -> None:
        handlers = self._handlers.get(channel)
        if not handlers or handler not in handlers:
            return
        handlers.remove(handler)
        if not handlers:
            del self._handlers[channel]
            if self.connected.is_set():
                with contextlib.suppress(Exception):
                    await self._pubsub.unsubscribe(channel)

    def _dispatch(self, channel: str, data: bytes) -> None:
        for handler in list(self._handlers.get(channel, ())):
            try:
                handler(data)
            except Exception as exc:
                log.warning("bus_handler_failed", channel=channel, exc_info=exc)

    async def _run(self) -> None:
        attempt = 0
        while True:
            try:
                await self._pubsub.subscribe(self._keepalive, *self._handlers)
                self.connected.set()
                attempt = 0
                while True:
                    # A bounded wait: the shared client's socket timeout must not fire on a
                    # quiet channel (get_message answers None when nothing came).
                    message = await self._pubsub.get_message(timeout=1.0)
                    if message is None:
                        continue
                    channel = message["channel"]
                    name = channel.decode() if isinstance(channel, bytes) else str(channel)
                    if message.get("type") == "subscribe":
                        waiting = self._confirmations.get(name)
                        if waiting is not None:
                            waiting.set()
                        continue
                    if message.get("type") != "message":
                        continue
                    self.received += 1
                    data = message["data"]
                    self._dispatch(name, data if isinstance(data, bytes) else str(data).encode())
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.connected.clear()
                attempt += 1
                delay = min(5.0, 0.1 * 2**attempt) * random.uniform(0.5, 1.0)
                log.warning("bus_connection_lost", error=str(exc), retry_in=round(delay, 2))
                with contextlib.suppress(Exception):
                    await self._pubsub.reset()
                self._pubsub = self._redis.pubsub()
                await asyncio.sleep(delay)

"""This replica's WebSocket subscribers and the Redis channels they listen on.

Each subscriber has a bounded queue and its own writer task, so a slow client never
holds up the others: when its queue is full it is dropped with close code 1008 and the
reason ``slow consumer: ...``. A channel is subscribed in Redis while at least one local
subscriber wants it; one pub/sub message (a batch) is parsed once and its texts are
queued for every local subscriber.

A late joiner first gets what is already stored (replay), then live messages whose
``seq`` is past the replay: nothing twice, nothing lost in between (the channel is
subscribed before the replay is read).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable
from typing import Any

import orjson
from starlette.websockets import WebSocket, WebSocketState

from services.profile.bus import Bus
from shared.log import get_logger

log = get_logger("services.profile.live.hub")
SLOW_CONSUMER_CLOSE = 1008
_ids = itertools.count(1)


class Subscriber:
    def __init__(self, websocket: WebSocket, *, queue_size: int, send_timeout: float) -> None:
        self.id = next(_ids)
        self.websocket = websocket
        self.queue: asyncio.Queue[str] = asyncio.Queue(maxsize=queue_size)
        self.send_timeout = send_timeout
        self.after_seq = 0  # live comments at or below this seq were replayed already
        self.replaying = True
        self._held: list[tuple[int, str]] = []
        self.closed = asyncio.Event()
        self.close_reason: str | None = None
        self.sent = 0
        self.dropped = False
        self._writer: asyncio.Task[None] | None = None

    def offer(self, seq: int, text: str) -> None:
        if self.closed.is_set():
            return
        if self.replaying:
            self._held.append((seq, text))
            if len(self._held) > self.queue.maxsize:
                self.drop(f"slow consumer: more than {self.queue.maxsize} messages pending")
            return
        if seq and seq <= self.after_seq:
            return
        self.send(text)

    def send(self, text: str) -> None:
        if self.closed.is_set():
            return
        try:
            self.queue.put_nowait(text)
        except asyncio.QueueFull:
            self.drop(f"slow consumer: send queue full ({self.queue.maxsize} messages)")

    def go_live(self, after_seq: int) -> None:
        """End of the replay: queue what came meanwhile (past the replay), then go live."""
        self.after_seq = max(self.after_seq, after_seq)
        self.replaying = False
        held, self._held = self._held, []
        for seq, text in held:
            self.offer(seq, text)

    def drop(self, reason: str) -> None:
        if not self.closed.is_set():
            self.dropped = True
            self.close_reason = reason
            self.closed.set()
            log.info("websocket_subscriber_dropped", subscriber=self.id, reason=reason)
            # A writer stuck in a send to this client is interrupted, so it can close.
            writer = self._writer
            if writer is not None and writer is not asyncio.current_task() and not writer.done():
                writer.cancel()

    async def write(self) -> None:
        """Send queued texts until closed (run as this subscriber's task)."""
        self._writer = asyncio.current_task()
        ws = self.websocket
        try:
            while not self.closed.is_set():
                if self.queue.empty():
                    get = asyncio.ensure_future(self.queue.get())
                    closed = asyncio.ensure_future(self.closed.wait())
                    done, _ = await asyncio.wait({get, closed}, return_when=asyncio.FIRST_COMPLETED)
                    closed.cancel()
                    if get not in done:
                        get.cancel()
                        break
                    text = get.result()
                else:
                    text = self.queue.get_nowait()
                if not await self._send(ws, text):
                    break
        except asyncio.CancelledError:
            if not self.dropped:
                raise
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
        if self.dropped and ws.application_state is WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(
                    ws.close(code=SLOW_CONSUMER_CLOSE, reason=(self.close_reason or "")[:120]), 2.0
                )

    async def _send(self, ws: WebSocket, text: str) -> bool:
        try:
            await asyncio.wait_for(ws.send_text(text), self.send_timeout)
        except TimeoutError:
            self.drop(f"slow consumer: a send took over {self.send_timeout}s")
            return False
        except asyncio.CancelledError:
            raise
        except Exception:
            self.closed.set()
            return False
        self.sent += 1
        return True


class SubscriberHub:
    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self._channels: dict[str, set[Subscriber]] = {}
        self._handlers: dict[str, Callable[[bytes], None]] = {}
        # (client_id, session_id) -> subscribers, for the presence figures.
        self.by_session: dict[tuple[str, str], set[Subscriber]] = {}
        self.delivered = 0
        self.dropped = 0

    @property
    def active_connections(self) -> int:
        return sum(len(s) for s in self.by_session.values())

    async def attach(self, channel: str, key: tuple[str, str], subscriber: Subscriber) -> None:
        subscribers = self._channels.setdefault(channel, set())
        subscribers.add(subscriber)
        self.by_session.setdefault(key, set()).add(subscriber)
        if channel not in self._handlers:
            handler = self._handler(channel)
            self._handlers[channel] = handler
            await self.bus.subscribe(channel, handler)

    async def detach(self, channel: str, key: tuple[str, str], subscriber: Subscriber) -> None:
        if subscriber.dropped:
            self.dropped += 1
        subscribers = self._channels.get(channel, set())
        subscribers.discard(subscriber)
        session = self.by_session.get(key)
        if session is not None:
            session.discard(subscriber)
            if not session:
                del self.by_session[key]
        if not subscribers:
            self._channels.pop(channel, None)
            handler = self._handlers.pop(channel, None)
            if handler is not None:
                await self.bus.unsubscribe(channel, handler)

    def _handler(self, channel: str) -> Callable[[bytes], None]:
        def handle(payload: bytes) -> None:
            message: dict[str, Any] = orjson.loads(payload)
            subscribers = self._channels.get(channel, ())
            items = message.get("items")
            if items:
                for subscriber in subscribers:
                    for seq, text in items:
                        subscriber.offer(seq, text)
                self.delivered += len(items) * len(subscribers)
            status = message.get("status")
            if status:
                for subscriber in subscribers:
                    subscriber.offer(0, status)

        return handle

    def presence(self) -> dict[str, Any]:
        sessions: dict[str, dict[str, int]] = {}
        for (client_id, session_id), subscribers in self.by_session.items():
            sessions.setdefault(client_id, {})[session_id] = len(subscribers)
        return {"active_connections": self.active_connections, "sessions": sessions}

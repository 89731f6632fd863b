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
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from starlette.websockets import WebSocket, WebSocketState

from services.profile.bus import Bus
from shared.log import get_logger

log = get_logger("services.profile.live.hub")
SLOW_CONSUMER_CLOSE = 1008
_ids = itertools.count(1)


class Subscriber:
    """One WebSocket client: a bounded queue of texts and the task that writes what the
    socket could not take at once.

    A text is sent *eagerly*, in the caller's own step: when nothing is queued or in
    flight, the send coroutine is driven by hand, and with uvicorn it finishes without
    suspending (the socket is writable: the frame goes straight to the transport). So one
    pub/sub message fans out to every local subscriber in one loop, like a bare
    broadcast, with no task switch per delivery (a writer task per subscriber woken per
    message cost as much CPU as the send itself: bench/profile.py). A send that does
    suspend (the client's TCP window is full) is handed to the subscriber's writer task,
    which finishes it and writes what queues meanwhile, under a deadline: a client that
    has not taken a whole queue's worth within ``send_timeout`` seconds, or whose queue
    overflows, is dropped with close code 1008 ``slow consumer: ...``.
    """

    def __init__(self, websocket: WebSocket, *, queue_size: int, send_timeout: float) -> None:
        self.id = next(_ids)
        self.websocket = websocket
        self.queue_size = queue_size
        self._pending: deque[str] = deque()
        # A send that suspended, and what it waits for: finished by the writer.
        self._inflight: tuple[Coroutine[Any, Any, None], Any] | None = None
        self._wakeup: asyncio.Future[None] | None = None  # set while the writer is parked
        self.send_timeout = send_timeout
        self.after_seq = 0  # live comments at or below this seq were replayed already
        self.replaying = True
        self._held: list[tuple[int, str]] = []
        self.closed = asyncio.Event()
        self.close_reason: str | None = None
        self.sent = 0
        self.dropped = False
        self._writer: asyncio.Task[None] | None = None

    @property
    def pending(self) -> int:
        return len(self._pending)

    def offer(self, seq: int, text: str) -> None:
        if self.closed.is_set():
            return
        if self.replaying:
            self._held.append((seq, text))
            if len(self._held) > self.queue_size:
                self.drop(f"slow consumer: more than {self.queue_size} messages pending")
            return
        if seq and seq <= self.after_seq:
            return
        self.send(text)

    def send(self, text: str) -> None:
        if self.closed.is_set():
            return
        if self._wakeup is not None and self._inflight is None and not self._pending:
            self._send_now(text)
            return
        if len(self._pending) >= self.queue_size:
            self.drop(f"slow consumer: send queue full ({self.queue_size} messages)")
            return
        self._pending.append(text)
        self._wake()

    def _send_now(self, text: str) -> None:
        """Drive ``send_text`` by hand; if it suspends, the writer finishes it."""
        coro = self.websocket.send_text(text)
        try:
            waiting_for = coro.send(None)
        except StopIteration:
            self.sent += 1
            return
        except Exception:
            self.close()  # the client is gone
            return
        self._inflight = (coro, waiting_for)
        self._wake()

    def _wake(self) -> None:
        wakeup = self._wakeup
        if wakeup is not None and not wakeup.done():
            wakeup.set_result(None)

    def go_live(self, after_seq: int) -> None:
        """End of the replay: queue what came meanwhile (past the replay), then go live."""
        self.after_seq = max(self.after_seq, after_seq)
        self.replaying = False
        held, self._held = self._held, []
        for seq, text in held:
            self.offer(seq, text)

    def close(self) -> None:
        """The client went away (or the route ends): the writer stops."""
        self.closed.set()
        self._wake()

    def drop(self, reason: str) -> None:
        if not self.closed.is_set():
            self.dropped = True
            self.close_reason = reason
            self.close()
            log.info("websocket_subscriber_dropped", subscriber=self.id, reason=reason)
            # A writer stuck in a send to this client is interrupted, so it can close.
            writer = self._writer
            if writer is not None and writer is not asyncio.current_task() and not writer.done():
                writer.cancel()

    async def write(self) -> None:
        """Send what could not be sent at once, until closed (this subscriber's task)."""
        self._writer = asyncio.current_task()
        loop = asyncio.get_running_loop()
        ws = self.websocket
        try:
            while not self.closed.is_set():
                if self._inflight is None and not self._pending:
                    self._wakeup = loop.create_future()
                    try:
                        await self._wakeup
                    finally:
                        self._wakeup = None
                    continue
                if not await self._send_backlog(ws):
                    break
        except asyncio.CancelledError:
            if not self.dropped:
                raise
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
        finally:
            self._abandon_inflight()
        if self.dropped and ws.application_state is WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(
                    ws.close(code=SLOW_CONSUMER_CLOSE, reason=(self.close_reason or "")[:120]), 2.0
                )

    async def _send_backlog(self, ws: WebSocket) -> bool:
        """The send in flight, then everything queued now, under one deadline."""
        pending = self._pending
        send_text = ws.send_text
        try:
            async with asyncio.timeout(self.send_timeout):
                if self._inflight is not None:
                    await self._finish_inflight()
                for _ in range(len(pending)):
                    if self.closed.is_set():
                        break
                    await send_text(pending.popleft())
                    self.sent += 1
        except TimeoutError:
            self.drop(f"slow consumer: a send took over {self.send_timeout}s")
            return False
        except asyncio.CancelledError:
            raise
        except Exception:
            self.close()
            return False
        return not self.closed.is_set()

    async def _finish_inflight(self) -> None:
        """Run the suspended send to its end, as a task would have."""
        assert self._inflight is not None
        coro, waiting_for = self._inflight
        while True:
            if waiting_for is None:  # a bare yield (sleep(0))
                await asyncio.sleep(0)
            else:
                # Its outcome reaches the coroutine when it resumes (Future.__await__).
                with contextlib.suppress(Exception):
                    await asyncio.shield(waiting_for)
            try:
                waiting_for = coro.send(None)
            except StopIteration:
                break
            finally:
                self._inflight = None
            self._inflight = (coro, waiting_for)
        self.sent += 1

    def _abandon_inflight(self) -> None:
        if self._inflight is not None:
            coro, _ = self._inflight
            self._inflight = None
            coro.close()


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

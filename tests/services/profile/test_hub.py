"""The WebSocket hub's per-subscriber queues: a slow subscriber is dropped with a close
reason and never holds up the others; a late joiner's replay and the live messages that
came meanwhile are delivered once, in order."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from starlette.websockets import WebSocketState

from services.profile.live.hub import SLOW_CONSUMER_CLOSE, Subscriber


class StuckSocket:
    """A WebSocket whose sends never finish (a client that stopped reading)."""

    application_state = WebSocketState.CONNECTED

    def __init__(self, stuck: bool) -> None:
        self.stuck = stuck
        self.sent: list[str] = []
        self.closed: tuple[int, str] | None = None

    async def send_text(self, text: str) -> None:
        if self.stuck:
            await asyncio.Event().wait()
        self.sent.append(text)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.closed = (code, reason)


async def test_a_full_queue_drops_only_the_slow_subscriber() -> None:
    slow_socket, fast_socket = StuckSocket(stuck=True), StuckSocket(stuck=False)
    slow = Subscriber(slow_socket, queue_size=10, send_timeout=30)  # type: ignore[arg-type]
    fast = Subscriber(fast_socket, queue_size=100, send_timeout=30)  # type: ignore[arg-type]
    writers = [asyncio.create_task(s.write()) for s in (slow, fast)]
    for s in (slow, fast):
        s.go_live(0)
    for n in range(1, 50):
        for s in (slow, fast):
            s.offer(n, f"m{n}")
        await asyncio.sleep(0)
    await asyncio.wait_for(writers[0], 5)
    assert slow.dropped
    assert slow.close_reason is not None
    assert slow.close_reason.startswith("slow consumer: send queue full")
    assert slow_socket.closed is not None
    assert slow_socket.closed[0] == SLOW_CONSUMER_CLOSE
    for _ in range(200):
        if len(fast_socket.sent) == 49:
            break
        await asyncio.sleep(0.01)
    assert not fast.dropped
    assert fast_socket.sent == [f"m{n}" for n in range(1, 50)]
    fast.close()
    await asyncio.wait_for(writers[1], 5)


@pytest.mark.parametrize("parked", [False, True], ids=["queued", "sent-eagerly"])
async def test_a_stalled_send_drops_the_subscriber_after_the_timeout(parked: bool) -> None:
    socket = StuckSocket(stuck=True)
    subscriber = Subscriber(socket, queue_size=100, send_timeout=0.2)  # type: ignore[arg-type]
    writer = asyncio.create_task(subscriber.write())
    subscriber.go_live(0)
    if parked:
        await asyncio.sleep(0)  # the writer waits: the send starts in this step, then stalls
    subscriber.offer(1, "one")
    await asyncio.wait_for(writer, 5)
    assert subscriber.close_reason == "slow consumer: a send took over 0.2s"
    assert socket.closed == (SLOW_CONSUMER_CLOSE, "slow consumer: a send took over 0.2s")


async def test_replay_then_live_without_duplicates() -> None:
    socket = StuckSocket(stuck=False)
    subscriber = Subscriber(socket, queue_size=100, send_timeout=5)  # type: ignore[arg-type]
    writer = asyncio.create_task(subscriber.write())
    # Live messages 4..6 arrive while the replay (1..5) is being read.
    for n in (4, 5, 6):
        subscriber.offer(n, f"live{n}")
    for n in range(1, 6):
        subscriber.send(f"stored{n}")
    subscriber.go_live(5)
    subscriber.offer(7, "live7")
    await asyncio.sleep(0.05)
    subscriber.close()
    await asyncio.wait_for(writer, 5)
    expected: list[Any] = [f"stored{n}" for n in range(1, 6)] + ["live6", "live7"]
    assert socket.sent == expected


class GatedSocket(StuckSocket):
    """Sends finish at once while the gate is open and wait while it is shut (a client
    whose TCP window filled, then drained)."""

    def __init__(self) -> None:
        super().__init__(stuck=False)
        self.gate = asyncio.Event()
        self.gate.set()

    async def send_text(self, text: str) -> None:
        await self.gate.wait()
        self.sent.append(text)


async def test_a_send_that_has_to_wait_is_finished_in_order_by_the_writer() -> None:
    socket = GatedSocket()
    subscriber = Subscriber(socket, queue_size=100, send_timeout=5)  # type: ignore[arg-type]
    writer = asyncio.create_task(subscriber.write())
    subscriber.go_live(0)
    await asyncio.sleep(0)  # the writer parks
    subscriber.offer(1, "m1")
    assert socket.sent == ["m1"]  # sent in the caller's step, no task switch
    socket.gate.clear()
    for n in range(2, 6):
        subscriber.offer(n, f"m{n}")  # m2 waits in flight, m3..m5 queue behind it
    assert socket.sent == ["m1"]
    socket.gate.set()
    for _ in range(100):
        if len(socket.sent) == 5:
            break
        await asyncio.sleep(0.01)
    assert socket.sent == ["m1", "m2", "m3", "m4", "m5"]
    subscriber.offer(6, "m6")
    await asyncio.sleep(0.01)
    assert socket.sent[-1] == "m6"
    assert subscriber.sent == 6
    assert not subscriber.dropped
    subscriber.close()
    await asyncio.wait_for(writer, 5)

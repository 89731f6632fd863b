"""The coalescing WebSocket protocol: frames sent in one loop step leave in one socket
write, in order, each still its own message; closes and flow control stay uvicorn's."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from shared.websocket_writes import CoalescingWebSocketProtocol

WRITES: list[bytes] = []  # what the server wrote to its sockets after the handshake
PAUSES: list[int] = []  # the transport told the protocol to stop writing


def counting(base: type[WebSocketsSansIOProtocol]) -> type[WebSocketsSansIOProtocol]:
    class Counting(base):  # type: ignore[misc, valid-type]
        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            write = transport.write

            def counted(data: bytes) -> None:
                if self.handshake_complete:
                    WRITES.append(bytes(data))
                write(data)

            transport.write = counted

        def pause_writing(self) -> None:
            PAUSES.append(1)
            super().pause_writing()

    return Counting


async def burst(websocket: WebSocket) -> None:
    """On each text from the client: that many messages in one step, then an "end"."""
    await websocket.accept()
    with contextlib.suppress(Exception):
        while True:
            command = await websocket.receive_text()
            if command.startswith("close"):
                for n in range(3):
                    await websocket.send_text(f"last{n}")
                await websocket.close(code=4000, reason="done")
                return
            count, _, size = command.partition(":")
            pad = "x" * int(size or 0)
            for n in range(int(count)):
                await websocket.send_text(f"m{n}{pad}")
            await websocket.send_bytes(b"\x00end")


@contextlib.asynccontextmanager
async def serving(protocol: type[WebSocketsSansIOProtocol]) -> AsyncIterator[str]:
    app = Starlette(routes=[WebSocketRoute("/ws", burst)])
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        loop="none",
        log_level="warning",
        lifespan="off",
        ws=counting(protocol),
        ws_per_message_deflate=False,
    )
    server = uvicorn.Server(config)
    server.capture_signals = contextlib.nullcontext  # type: ignore[assignment,method-assign]
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"ws://127.0.0.1:{port}/ws"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


@pytest.fixture
async def url() -> AsyncIterator[str]:
    """A server with the coalescing protocol."""
    async with serving(CoalescingWebSocketProtocol) as address:
        yield address


@pytest.fixture(autouse=True)
def _fresh_writes() -> None:
    WRITES.clear()
    PAUSES.clear()


async def receive_burst(url: str, count: int) -> tuple[list[Any], list[bytes]]:
    """What the client received, and the server's writes for it (before the close)."""
    async with connect(url, compression=None) as ws:
        WRITES.clear()
        await ws.send(str(count))
        received = [await ws.recv() for _ in range(count + 1)]
        writes = list(WRITES)
    return received, writes


async def test_frames_sent_in_one_step_leave_in_one_write(url: str) -> None:
    received, writes = await receive_burst(url, 20)
    assert received == [f"m{n}" for n in range(20)] + [b"\x00end"]  # each its own message
    assert len(writes) == 1
    assert writes[0].count(b"m") == 20


async def test_a_long_step_is_written_every_64_kib(url: str) -> None:
    """So the transport's flow control engages within one step (a backlog sent at once)."""
    async with connect(url, compression=None) as ws:
        WRITES.clear()
        await ws.send("200:1024")  # 200 messages of ~1 KiB in one step
        received = [await ws.recv() for _ in range(201)]
        writes = list(WRITES)
    assert len(received) == 201
    assert 3 <= len(writes) <= 5  # 200 KiB: three full writes of 64 KiB and the rest


async def test_uvicorns_own_protocol_writes_each_frame() -> None:
    """The baseline the coalescing protocol is measured against (bench/profile.py)."""
    async with serving(WebSocketsSansIOProtocol) as url:
        _, writes = await receive_burst(url, 20)
    assert len(writes) == 21


async def test_a_close_after_a_burst_comes_after_it(url: str) -> None:
    async with connect(url, compression=None) as ws:
        await ws.send("close")
        received = [await ws.recv() for _ in range(3)]
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert received == ["last0", "last1", "last2"]
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4000


async def test_a_paused_transport_still_gets_every_frame_in_order(url: str) -> None:
    """Past the transport's high-water mark uvicorn's own send waits; nothing reorders."""
    async with connect(url, compression=None, max_queue=None, max_size=None) as ws:
        await ws.send("400:65536")  # 26 MB in one step: more than the socket buffers take
        await ws.send("400:65536")
        await asyncio.sleep(0.3)  # nothing read yet: the server's buffers fill
        received = [await ws.recv() for _ in range(2 * 401)]
    pad = "x" * 65536
    expected: list[Any] = [*(f"m{n}{pad}" for n in range(400)), b"\x00end"]
    assert received == expected * 2
    assert PAUSES  # the paused path was taken

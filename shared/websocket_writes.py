"""uvicorn's WebSocket protocol, writing the frames sent in one event-loop step together.

uvicorn (``websockets-sansio``) writes every ``websocket.send`` to the socket at once: a
``send()`` system call per frame. Profiled under ``bench/profile.py``, those writes were
most of the CPU a comment fan-out costs, in the profile replicas (a frame per comment
per subscriber) and in the gateway relaying them. This protocol frames the message as
uvicorn does but leaves the bytes in the connection's outgoing buffer and writes that
buffer once, at the end of the current loop step (``call_soon``): a batch of comments
sent to one subscriber, or relayed to one client after one read from upstream, leaves
in one write. Nothing waits for a timer: the write happens before the loop polls again.

Everything else is uvicorn's own: the handshake, closes, pings, flow control. Past
``FLUSH_BYTES`` buffered in one step the buffer is written at once, so the transport's
flow control still engages within a long step (a backlog sent in one go): once the
transport is paused, a send goes through uvicorn's ``send``, which waits until it may
write (the sender yields the loop) and then writes what is buffered, in order (every
write path takes the bytes from the same buffer, so frames never reorder).

``python -m gateway serve`` and ``python -m services.profile serve`` use it
(``ws=CoalescingWebSocketProtocol``).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.exceptions import InvalidState

FLUSH_BYTES = 64 * 1024


class CoalescingWebSocketProtocol(WebSocketsSansIOProtocol):
    _flush_handle: asyncio.Handle | None = None
    _buffered = 0  # payload bytes framed since the last write

    async def send(self, message: Any) -> None:
        if (
            message["type"] == "websocket.send"
            and self.handshake_complete
            and not self.close_sent
            and not self.disconnected
            and self.initial_response is None
            and self.writable.is_set()
        ):
            data, text = message.get("bytes"), message.get("text")
            try:
                if data is not None:
                    self.conn.send_binary(data)
                    self._buffered += len(data)
                elif text is not None:
                    payload = text.encode()
                    self.conn.send_text(payload)
                    self._buffered += len(payload)
                else:
                    return
            except InvalidState:
                raise ClientDisconnected() from None
            if self._buffered >= FLUSH_BYTES:
                self._flush()
            elif self._flush_handle is None:
                self._flush_handle = self.loop.call_soon(self._flush)
            return
        self._buffered = 0  # uvicorn's send writes whatever is buffered
        await super().send(message)

    def _flush(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        self._buffered = 0
        output = self.conn.data_to_send()
        if not output or self.disconnected or self.transport.is_closing():
            return
        self.transport.write(b"".join(output))

    def connection_lost(self, exc: Exception | None) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        super().connection_lost(exc)

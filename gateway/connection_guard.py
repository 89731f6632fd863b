"""The gateway's HTTP/1.1 server protocol: uvicorn's httptools protocol, guarded against
clients that hold connections open without completing requests (issue 8 §3).

uvicorn bounds none of this (httptools accepts headers of any size; a connection that
trickles its headers is never closed; there is no cap per address), so the gateway
serves with this subclass (``python -m gateway serve``, :func:`server_options`):

- **Header size**: a request line plus headers over ``max_header_bytes`` (32 KiB)
  answers 431 and the connection is closed. Measured exactly once the headers are
  complete; while they are still arriving, the bytes received for them are counted
  as they come, so a 64 MB header is refused after at most the limit plus one read,
  never buffered whole.
- **Header time**: a connection must complete its request headers within
  ``header_timeout`` (10 s) of opening, or of the previous answer on a kept-alive
  connection; otherwise 408 and close. (An idle kept-alive connection is closed by
  uvicorn's own keep-alive timeout, 5 s.)
- **Connections per client address**: at most ``max_per_address`` (64) open at once
  per peer address; more are answered 429 and closed at once. Peers that are trusted
  proxies (``GATEWAY_TRUSTED_PROXIES``) are exempt: behind a load balancer every
  connection comes from it, and the cap belongs there.

One more thing the protocol does, for speed: uvicorn writes a response's head and its
body in two writes (two ``send()`` system calls, two packets). When the head declares
a small ``Content-Length`` (every proxied JSON answer), the head is held until the body
message and both leave in one write (:class:`JoinedHeadCycle`); profiled under
``bench/gateway.py``, the socket writes were the largest single cost left in the
gateway's CPU per request.

The request body's pace is bounded one layer up, in the proxy (:mod:`gateway.proxy`,
idle timeout and minimum rate: 408). WebSocket connections keep counting against their
address after the upgrade, until they close.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from gateway.counters import CONNECTIONS_REFUSED
from gateway.settings import GatewaySettings
from shared.net import is_trusted_proxy
from shared.websocket_writes import CoalescingWebSocketProtocol

_STATUS = {
    408: b"Request Timeout",
    429: b"Too Many Requests",
    431: b"Request Header Fields Too Large",
}
_MESSAGES = {
    408: b"The request headers did not arrive in time",
    429: b"Too many connections from this address",
    431: b"The request headers are too large",
}
_CODES = {408: b"request_timeout", 429: b"too_many_connections", 431: b"headers_too_large"}
# How long a refused connection still reads (and drops) what the client sends.
LINGER_SECONDS = 2.0


def _refusal(status: int) -> bytes:
    message = _MESSAGES[status]
    body = b'{"code":"%s","message":"%s","detail":"%s"}' % (_CODES[status], message, message)
    head = [
        b"HTTP/1.1 %d %s" % (status, _STATUS[status]),
        b"content-type: application/json",
        b"content-length: %d" % len(body),
        b"connection: close",
    ]
    if status == 429:
        head.append(b"retry-after: 1")
    return b"\r\n".join(head) + b"\r\n\r\n" + body


# The largest declared body whose head waits for it (one write for both).
JOINED_BODY_MAX = 64 * 1024


def _small_length(headers: Any) -> bool:
    for name, value in headers:
        if name == b"content-length":
            return len(value) <= 6 and value.isdigit() and int(value) <= JOINED_BODY_MAX
    return False


class _Joined:
    """Stands in for the transport while a held head and its body are written."""

    __slots__ = ("closed", "parts", "transport")

    def __init__(self, transport: Any) -> None:
        self.transport = transport
        self.parts: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.parts.append(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return bool(self.closed or self.transport.is_closing())

    def flush(self) -> None:
        if self.parts:
            self.transport.write(b"".join(self.parts))
        if self.closed:
            self.transport.close()


class JoinedHeadCycle(RequestResponseCycle):
    """uvicorn's request cycle, writing a small fixed-length answer in one write."""

    held: Any = None  # the response start waiting for its body

    async def send(self, message: Any) -> None:
        kind = message["type"]
        if kind == "http.response.start" and not self.response_started:
            # (A second start replaces a held one: uvicorn's own 500 after a failure.)
            self.held = None
            if _small_length(message.get("headers", ())):
                self.held = message
                return
        held = self.held
        if held is None or kind != "http.response.body":
            await super().send(message)
            return
        self.held = None
        transport = self.transport
        joined = _Joined(transport)
        self.transport = joined  # type: ignore[assignment]
        try:
            await super().send(held)
            await super().send(message)
        finally:
            self.transport = transport
            joined.flush()


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    max_header_bytes: int
    header_timeout: float
    max_per_address: int  # 0: no cap
    trusted_proxies: tuple[str, ...]


class GuardedHttpProtocol(HttpToolsProtocol):
    """One client connection. ``limits`` and ``open_by_address`` are set on the class
    :func:`guarded_protocol` makes, shared by every connection of its server."""

    limits: ConnectionLimits
    open_by_address: dict[str, int]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._address: str | None = None  # counted against the cap
        self._awaiting_headers = True
        self._header_bytes = 0
        self._header_timer: asyncio.TimerHandle | None = None
        self._refusing = False  # answered and closing: what arrives is dropped
        self._oversized = False  # headers found too large while parsing this read
        self._url_bytes = 0

    # --- connection ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        limits = self.limits
        address = self.client[0] if self.client else None
        if limits.max_per_address and address is not None:
            trusted = limits.trusted_proxies and is_trusted_proxy(address, limits.trusted_proxies)
            if not trusted:
                if self.open_by_address.get(address, 0) >= limits.max_per_address:
                    CONNECTIONS_REFUSED.labels("too_many_connections").inc()
                    self._refuse(429)
                    return
                self.open_by_address[address] = self.open_by_address.get(address, 0) + 1
                self._address = address
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._release()
        self._disarm_header_timer()
        super().connection_lost(exc)

    def _release(self) -> None:
        address, self._address = self._address, None
        if address is not None:
            left = self.open_by_address.get(address, 1) - 1
            if left > 0:
                self.open_by_address[address] = left
            else:
                self.open_by_address.pop(address, None)

    def _refuse(self, status: int) -> None:
        """Answer ``status`` and close, lingering: the answer goes out with a half-close,
        what the client still sends is read and dropped for a moment, then the connection
        closes (closing with unread data would reset it, and the client could lose the
        answer)."""
        self._refusing = True
        self._disarm_header_timer()
        transport = self.transport
        if transport.is_closing():
            return
        transport.write(_refusal(status))
        if transport.can_write_eof():
            transport.write_eof()
            self.loop.call_later(LINGER_SECONDS, transport.close)
        else:
            transport.close()

    # --- header time -----------------------------------------------------------------

    def _arm_header_timer(self) -> None:
        self._disarm_header_timer()
        self._header_timer = self.loop.call_later(self.limits.header_timeout, self._header_timeout)

    def _disarm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_timeout(self) -> None:
        self._header_timer = None
        if self._awaiting_headers and not self.transport.is_closing():
            CONNECTIONS_REFUSED.labels("header_timeout").inc()
            self._refuse(408)

    # --- header size -----------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self._refusing:
            return
        counting = self._awaiting_headers
        if counting:
            self._header_bytes += len(data)
        super().data_received(data)
        if self._oversized:  # found by on_headers_complete during this read
            self._oversized = False
            self._refuse(431)
            return
        # Still inside the headers after this read: every byte counted so far is theirs.
        if (
            counting
            and self._awaiting_headers
            and self._header_bytes > self.limits.max_header_bytes
        ):
            CONNECTIONS_REFUSED.labels("headers_too_large").inc()
            self._refuse(431)

    def on_message_begin(self) -> None:
        self._url_bytes = 0
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        self._url_bytes += len(url)
        super().on_url(url)

    def on_headers_complete(self) -> None:
        size = self._url_bytes + sum(len(n) + len(v) + 4 for n, v in self.headers)
        if size > self.limits.max_header_bytes:
            CONNECTIONS_REFUSED.labels("headers_too_large").inc()
            self._oversized = True  # the 431 is written once the parser returns
            return
        self._awaiting_headers = False
        self._disarm_header_timer()
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not None and type(cycle) is RequestResponseCycle:
            cycle.__class__ = JoinedHeadCycle

    def on_body(self, body: bytes) -> None:
        if not (self._refusing or self._oversized):
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._refusing or self._oversized:
            return
        super().on_message_complete()
        # What arrives from now on belongs to the next request's headers.
        self._awaiting_headers = True
        self._header_bytes = 0

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self._awaiting_headers:
            self._arm_header_timer()  # the next request's headers are due from now

    # --- WebSocket -------------------------------------------------------------------

    def handle_websocket_upgrade(self) -> None:
        self._disarm_header_timer()
        address, self._address = self._address, None
        super().handle_websocket_upgrade()
        if address is None:
            return
        upgraded = self.transport.get_protocol()
        closed = upgraded.connection_lost
        self._address = address

        def connection_lost(exc: Exception | None) -> None:
            self._release()
            closed(exc)

        upgraded.connection_lost = connection_lost  # type: ignore[method-assign]


def guarded_protocol(limits: ConnectionLimits) -> type[GuardedHttpProtocol]:
    """A protocol class for one server: its limits, its count of connections per address."""
    return type(
        "GuardedHttpProtocol", (GuardedHttpProtocol,), {"limits": limits, "open_by_address": {}}
    )


def server_options(settings: GatewaySettings) -> dict[str, Any]:
    """The uvicorn options of ``python -m gateway serve``."""
    limits = ConnectionLimits(
        max_header_bytes=settings.max_header_bytes,
        header_timeout=settings.header_timeout_seconds,
        max_per_address=settings.max_connections_per_client,
        trusted_proxies=tuple(settings.trusted_proxies),
    )
    return {
        "http": guarded_protocol(limits),
        "ws_max_size": settings.websocket_max_message_bytes,
        "ws_per_message_deflate": settings.websocket_per_message_deflate,
        # Frames relayed to one client in one loop step leave in one write.
        "ws": CoalescingWebSocketProtocol,
        "timeout_keep_alive": settings.keep_alive_timeout_seconds,
    }

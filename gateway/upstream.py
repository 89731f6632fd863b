"""The proxy's upstream HTTP/1.1 client: pooled keep-alive connections to the services,
responses parsed by ``httptools`` (llhttp, the parser uvicorn serves with), bodies
streamed both ways under flow control.

Why not aiohttp here: profiled under ``bench/gateway.py`` (50 connections, a cheap
route), aiohttp's request machinery (ClientRequest, header multidicts, timer contexts,
the connector's bookkeeping, the response wrappers) was over a third of the gateway's
CPU per request, more than the gateway's own work and the rate limit's Redis call
together. The proxy needs far less than a general client: one request at a time per
connection, headers already prepared, no cookies, redirects, decompression, proxies or
TLS. aiohttp stays for everything else (WebSocket relay, health, docs, auth calls).

What it does:

- **Pool**: idle connections per service address, most recently used first; one that
  sat idle longer than ``keepalive_seconds`` (below uvicorn's 5 s) is closed rather
  than reused. At most ``max_connections`` open at once; past that a request waits
  for a free one, within its read timeout.
- **Timeouts**: connecting (``connect_timeout``); waiting for the answer once the
  request is sent, and for each later chunk (``read_timeout``, reset whenever data
  arrives, suspended while the gateway itself holds the connection paused).
- **Stale connections**: a pooled connection the service closed just as it was reused
  (nothing of an answer arrived) is retried once on a fresh connection, for an
  idempotent method without a body (RFC 9112 9.3.1); a streamed body never is.
- **Bodies**: a request body is written by a task of its own while the answer is
  awaited, so a service that answers early (a 413, a 401) is relayed; an answer is
  buffered up to :data:`HIGH_WATER` bytes, then the socket is paused until the client
  has taken it.
- **Framing**: ``Content-Length`` bodies are written as they are, others chunked;
  informational (1xx) answers are skipped; an answer to ``HEAD`` ends with its
  headers (the connection is not reused: the parser cannot know the body is absent).
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httptools

HIGH_WATER = 256 * 1024  # buffered answer bytes at which the socket is paused
LOW_WATER = 64 * 1024  # ... and resumed
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "DELETE", "PUT", "TRACE"})
RawHeaders = list[tuple[bytes, bytes]]


class UpstreamFailure(Exception):
    """The service could not be asked or did not answer properly (a 502)."""


class ConnectFailed(UpstreamFailure):
    """No connection to the service: refused, unreachable, or not in time (a 503)."""


class ReadTimedOut(UpstreamFailure):
    """The service did not answer, or stopped sending, within the read timeout (a 504)."""


class BodyFailed(UpstreamFailure):
    """The client's request body could not be read (the body stream says why)."""


class _Stale(UpstreamFailure):
    """A reused connection closed before any byte of an answer: safe to send again."""


class _Connection(asyncio.Protocol):
    """One keep-alive connection; at most one request at a time."""

    def __init__(self, pool: UpstreamPool, origin: tuple[str, int]) -> None:
        self.pool = pool
        self.origin = origin
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.idle_since = 0.0
        self.reused = False
        # The exchange in progress.
        self.busy = False
        self.head_request = False
        self.status = 0
        self.headers: RawHeaders = []
        self.content_length: int | None = None
        self.headers_done = False
        self.complete = False
        self.keep_alive = False
        self.received_any = False
        self.informational = False
        self.error: BaseException | None = None
        self.chunks: collections.deque[bytes] = collections.deque()
        self.buffered = 0
        self.waiter: asyncio.Future[None] | None = None
        self.read_timeout = 0.0
        self.last_data = 0.0
        self.timer: asyncio.TimerHandle | None = None
        self.reading_paused = False
        self.write_paused = False
        self.drain_waiter: asyncio.Future[None] | None = None

    # --- asyncio.Protocol ------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        if not self.busy:  # an idle connection the service talks on: not reusable
            self.close()
            return
        self.received_any = True
        self.last_data = self.loop.time()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(UpstreamFailure(f"malformed answer: {exc}"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.pool.forget(self)
        if self.busy and not self.complete:
            if self.headers_done and self.content_length is None and not self._chunked():
                self.complete = True  # an answer delimited by the end of the connection
                self._wake()
            elif not self.received_any and self.reused:
                self._fail(_Stale("the pooled connection was closed"))
            else:
                self._fail(UpstreamFailure(f"the connection was lost ({exc!r})"))
        self._cancel_timer()
        drain = self.drain_waiter
        if drain is not None and not drain.done():
            drain.set_exception(UpstreamFailure("the connection was lost while sending"))

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        drain = self.drain_waiter
        if drain is not None and not drain.done():
            drain.set_result(None)

    # --- httptools callbacks ---------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if 100 <= status < 200:
            self.informational = True  # 100 Continue and the like: not the answer
            self.headers = []
            return
        self.status = status
        self.keep_alive = self.parser.should_keep_alive()
        for name, value in self.headers:
            if len(name) == 14 and name.lower() == b"content-length":
                try:
                    self.content_length = int(value)
                except ValueError:
                    self.content_length = None
        self.headers_done = True
        if self.head_request:
            self.complete = True
            self.keep_alive = False
        self._wake()

    def on_body(self, body: bytes) -> None:
        if self.head_request:
            return
        self.chunks.append(body)
        self.buffered += len(body)
        if self.buffered > HIGH_WATER and not self.reading_paused and self.transport:
            self.reading_paused = True
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if self.informational:
            self.informational = False
            return
        self.complete = True
        self._cancel_timer()
        self._wake()

    # --- the exchange ----------------------------------------------------------------

    def _chunked(self) -> bool:
        return any(n.lower() == b"transfer-encoding" for n, _ in self.headers)

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def _fail(self, error: BaseException) -> None:
        if self.error is None:
            self.error = error
        self._wake()

    def start(self, head: bytes, *, head_request: bool, read_timeout: float) -> None:
        self.busy = True
        self.head_request = head_request
        self.read_timeout = read_timeout
        assert self.transport is not None
        self.transport.write(head)

    def arm_read_timer(self) -> None:
        """From now on the service must send something within the read timeout."""
        self.last_data = self.loop.time()
        if self.timer is None and not self.complete:
            self.timer = self.loop.call_at(self.last_data + self.read_timeout, self._check_timer)

    def _check_timer(self) -> None:
        self.timer = None
        if self.complete or self.closed:
            return
        now = self.loop.time()
        due = self.last_data + self.read_timeout
        if self.reading_paused:  # the gateway is holding the data back, not the service
            self.last_data, due = now, now + self.read_timeout
        if now < due:
            self.timer = self.loop.call_at(due, self._check_timer)
            return
        self._fail(ReadTimedOut("the service did not answer in time"))
        self.close()

    def _cancel_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    async def wait(self) -> None:
        """Until something happens: data, the end of the answer, an error."""
        if self.error is not None:
            raise self.error
        waiter = self.loop.create_future()
        self.waiter = waiter
        await waiter
        if self.error is not None:
            raise self.error

    async def drain(self) -> None:
        if self.closed:
            raise UpstreamFailure("the connection was lost while sending")
        if self.write_paused:
            self.drain_waiter = self.loop.create_future()
            try:
                await self.drain_waiter
            finally:
                self.drain_waiter = None

    def take(self) -> bytes | None:
        """The next buffered chunk, resuming the socket once the buffer has drained."""
        if not self.chunks:
            return None
        chunk = self.chunks.popleft()
        self.buffered -= len(chunk)
        if self.reading_paused and self.buffered <= LOW_WATER and self.transport:
            self.reading_paused = False
            self.last_data = self.loop.time()
            self.transport.resume_reading()
        return chunk

    def reset(self) -> None:
        self.busy = False
        self.head_request = False
        self.status = 0
        self.headers = []
        self.content_length = None
        self.headers_done = False
        self.complete = False
        self.keep_alive = False
        self.received_any = False
        self.error = None
        self.chunks.clear()
        self.buffered = 0
        self.waiter = None
        self._cancel_timer()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()


class UpstreamResponse:
    """A service's answer: status and headers at once, the body as it arrives."""

    __slots__ = ("_connection", "_writer", "content_length", "raw_headers", "status")

    def __init__(self, connection: _Connection, writer: asyncio.Task[None] | None) -> None:
        self._connection = connection
        self._writer = writer
        self.status = connection.status
        self.raw_headers = connection.headers
        self.content_length = connection.content_length

    async def chunks(self) -> AsyncIterator[bytes]:
        connection = self._connection
        while True:
            chunk = connection.take()
            if chunk is not None:
                yield chunk
                continue
            if connection.complete:
                return
            await connection.wait()

    async def read(self) -> bytes:
        return b"".join([chunk async for chunk in self.chunks()])

    def release(self) -> None:
        """Back to the pool if the exchange ended cleanly, closed otherwise."""
        connection = self._connection
        writer = self._writer
        body_sent = writer is None or (
            writer.done() and not writer.cancelled() and writer.exception() is None
        )
        reusable = (
            body_sent
            and connection.complete
            and connection.keep_alive
            and connection.error is None
            and not connection.chunks
        )
        if writer is not None and not writer.done():
            writer.cancel()
        self._connection.pool.release(connection, reusable)


class UpstreamPool:
    """Keep-alive connections to the services, shared by every request."""

    def __init__(self, *, max_connections: int, keepalive_seconds: float = 4.0) -> None:
        self._max = max_connections
        self._keepalive = keepalive_seconds
        self._idle: dict[tuple[str, int], list[_Connection]] = {}
        self._open: set[_Connection] = set()
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._closing = False

    @property
    def open_connections(self) -> int:
        return len(self._open)

    async def request(
        self,
        origin: tuple[str, int],
        head: bytes,
        *,
        method: str,
        body: AsyncIterator[bytes] | None,
        chunked: bool,
        connect_timeout: float,
        read_timeout: float,
    ) -> UpstreamResponse:
        """Send ``head`` (the request line and headers, encoded) and ``body``; the answer
        once its headers are in. The caller must :meth:`UpstreamResponse.release` it."""
        retry = body is None and method in IDEMPOTENT
        while True:
            connection = await self._acquire(origin, connect_timeout, read_timeout)
            try:
                return await self._exchange(connection, head, method, body, chunked, read_timeout)
            except _Stale:
                self.release(connection, False)
                if not retry:
                    raise UpstreamFailure("the pooled connection was closed") from None
                retry = False  # once, on a fresh connection
            except BaseException:
                self.release(connection, False)
                raise

    async def _exchange(
        self,
        connection: _Connection,
        head: bytes,
        method: str,
        body: AsyncIterator[bytes] | None,
        chunked: bool,
        read_timeout: float,
    ) -> UpstreamResponse:
        connection.start(head, head_request=method == "HEAD", read_timeout=read_timeout)
        writer: asyncio.Task[None] | None = None
        if body is None:
            connection.arm_read_timer()
        else:
            writer = asyncio.create_task(_write_body(connection, body, chunked))
        try:
            while not connection.headers_done:
                await connection.wait()
        except BaseException:
            if writer is not None:
                if not writer.done():
                    writer.cancel()
                await asyncio.gather(writer, return_exceptions=True)  # retrieved, not logged
            raise
        return UpstreamResponse(connection, writer)

    async def _acquire(
        self, origin: tuple[str, int], connect_timeout: float, wait_timeout: float
    ) -> _Connection:
        loop = asyncio.get_running_loop()
        deadline: float | None = None
        while True:
            connection = self._idle_connection(origin)
            if connection is not None:
                return connection
            if not self._max or len(self._open) < self._max or self._close_one_idle():
                return await self._connect(origin, connect_timeout)
            # Every connection is busy: wait for one to come back or to close.
            if deadline is None:
                deadline = loop.time() + wait_timeout
            waiter = loop.create_future()
            self._waiters.append(waiter)
            try:
                async with asyncio.timeout_at(deadline):
                    await waiter
            except TimeoutError:
                raise ConnectFailed("no free connection to the service in time") from None
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)

    def _idle_connection(self, origin: tuple[str, int]) -> _Connection | None:
        """The most recently used idle connection to ``origin`` still fit for reuse."""
        idle = self._idle.get(origin)
        now = time.monotonic()
        while idle:
            connection = idle.pop()
            if not connection.closed and now - connection.idle_since < self._keepalive:
                connection.reused = True
                return connection
            connection.close()
            self.forget(connection)
        return None

    def _close_one_idle(self) -> bool:
        """Make room at the cap by closing an idle connection to another service."""
        for idle in self._idle.values():
            if idle:
                connection = idle.pop(0)  # the least recently used
                connection.close()
                self.forget(connection)
                return True
        return False

    async def _connect(self, origin: tuple[str, int], timeout: float) -> _Connection:
        loop = asyncio.get_running_loop()
        connection = _Connection(self, origin)
        self._open.add(connection)
        try:
            async with asyncio.timeout(timeout):
                await loop.create_connection(lambda: connection, origin[0], origin[1])
        except (OSError, TimeoutError) as exc:
            self._open.discard(connection)
            self._wake_waiter()
            raise ConnectFailed(f"cannot connect to {origin[0]}:{origin[1]}: {exc!r}") from exc
        except BaseException:
            self._open.discard(connection)
            connection.close()
            self._wake_waiter()
            raise
        return connection

    def release(self, connection: _Connection, reusable: bool) -> None:
        if reusable and not connection.closed and not self._closing:
            connection.reset()
            connection.idle_since = time.monotonic()
            self._idle.setdefault(connection.origin, []).append(connection)
            self._wake_waiter()  # a request waiting at the cap may take it
        else:
            connection.reset()
            connection.close()
            self.forget(connection)

    def forget(self, connection: _Connection) -> None:
        """``connection`` is closed: it no longer counts, and a waiter may open one."""
        if connection in self._open:
            self._open.discard(connection)
            idle = self._idle.get(connection.origin)
            if idle and connection in idle:
                idle.remove(connection)
            self._wake_waiter()

    def _wake_waiter(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def close(self) -> None:
        self._closing = True
        for connection in list(self._open):
            connection.close()
        self._idle.clear()
        await asyncio.sleep(0)  # let the transports run their connection_lost


async def _write_body(connection: _Connection, body: AsyncIterator[bytes], chunked: bool) -> None:
    """Stream ``body`` to the service, then start the read timeout."""
    transport = connection.transport
    assert transport is not None
    try:
        async for chunk in body:
            if not chunk:
                continue  # an empty chunk would end a chunked body
            if connection.closed:
                raise UpstreamFailure("the connection was lost while sending")
            if chunked:
                transport.write(b"%x\r\n%b\r\n" % (len(chunk), chunk))
            else:
                transport.write(chunk)
            await connection.drain()
    except UpstreamFailure as exc:
        connection._fail(exc)
        raise
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # the client's body stream failed: the body flags say why
        failure = BodyFailed(repr(exc))
        connection._fail(failure)
        connection.close()
        raise failure from exc
    if chunked and not connection.closed:
        transport.write(b"0\r\n\r\n")
    connection.arm_read_timer()


def encode_head(method: str, target: bytes, headers: list[tuple[bytes, bytes]]) -> bytes:
    """The request line and headers as they go on the wire."""
    parts = [method.encode("ascii"), b" ", target, b" HTTP/1.1\r\n"]
    for name, value in headers:
        parts += (name, b": ", value, b"\r\n")
    parts.append(b"\r\n")
    return b"".join(parts)


def origin_of(base_url: str) -> tuple[str, int]:
    """``("host", port)`` of a service's ``http://host:port`` address."""
    parts = urlsplit(base_url)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"the proxy speaks plain HTTP to the services, not {base_url!r}")
    return parts.hostname, parts.port or 80

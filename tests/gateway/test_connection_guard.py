"""The gateway's server protocol (gateway.connection_guard) under uvicorn, with small
limits so each case takes a moment: kept-alive connections get the header timeout for
their next request, a body arriving with its headers does not count as header bytes,
and WebSocket connections count against their address until they close. The full-size
behaviour against the real gateway is tests/e2e/test_slow_clients.py."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from websockets.asyncio.client import connect

from gateway.connection_guard import ConnectionLimits, guarded_protocol
from tests.gateway.support import EchoService, LoopbackServer

LIMITS = ConnectionLimits(
    max_header_bytes=4096, header_timeout=0.5, max_per_address=2, trusted_proxies=()
)


@pytest.fixture
async def guarded() -> AsyncIterator[LoopbackServer]:
    server = await LoopbackServer(EchoService("echo"), http=guarded_protocol(LIMITS)).start()
    yield server
    await server.stop()


async def _open(server: LoopbackServer) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", server.port)


async def test_the_next_request_on_a_kept_alive_connection_has_the_header_timeout(
    guarded: LoopbackServer,
) -> None:
    reader, writer = await _open(guarded)
    writer.write(b"GET /first HTTP/1.1\r\nHost: q\r\n\r\n")
    first = await asyncio.wait_for(reader.readuntil(b"\r\n0\r\n\r\n"), 10)  # chunked end
    assert first.startswith(b"HTTP/1.1 200 ")
    writer.write(b"GET /second HTTP/1.1\r\nHost: q\r\n")  # ... and never the end
    rest = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    assert rest.startswith(b"HTTP/1.1 408 "), rest[:100]


async def test_a_body_sent_with_its_headers_is_not_counted_as_headers(
    guarded: LoopbackServer,
) -> None:
    reader, writer = await _open(guarded)
    body = b"x" * 100_000
    writer.write(
        b"POST /upload HTTP/1.1\r\nHost: q\r\nConnection: close\r\n"
        + b"Content-Length: %d\r\nX-Pad: %s\r\n\r\n" % (len(body), b"p" * 3000)
        + body
    )
    answer = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:100]
    assert b'"body_bytes": 100000' in answer


async def test_headers_just_over_the_limit_are_431_even_when_complete(
    guarded: LoopbackServer,
) -> None:
    reader, writer = await _open(guarded)
    writer.write(b"GET / HTTP/1.1\r\nHost: q\r\nX-Pad: " + b"p" * 4100 + b"\r\n\r\n")
    answer = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:100]


async def test_websockets_count_against_their_address_until_they_close(
    guarded: LoopbackServer,
) -> None:
    url = guarded.url.replace("http://", "ws://") + "/ws/comments/s"
    async with connect(url) as first, connect(url):
        await first.recv()
        reader, writer = await _open(guarded)
        refused = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        assert refused.startswith(b"HTTP/1.1 429 "), refused[:100]
    for _ in range(200):  # bounded: until both WebSocket connections are released
        if not guarded.config.http_protocol_class.open_by_address:  # type: ignore[union-attr]
            break
        await asyncio.sleep(0.01)
    reader, writer = await _open(guarded)
    writer.write(b"GET /again HTTP/1.1\r\nHost: q\r\nConnection: close\r\n\r\n")
    answer = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 200 ")

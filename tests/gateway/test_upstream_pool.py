"""The proxy's upstream pool at its connection cap, against real loopback servers: a
request waits for a busy connection to come back and reuses it, an idle connection to
another service is closed to make room, and a wait longer than the read timeout is a
503-kind failure (no connection in time), never a hang."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from gateway.upstream import ConnectFailed, UpstreamPool, encode_head


class Service:
    """A loopback HTTP/1.1 server answering every request ``200 ok`` after ``gate``."""

    def __init__(self) -> None:
        self.connections = 0
        self.gate: asyncio.Event | None = None
        self._server: asyncio.Server | None = None
        self.origin = ("127.0.0.1", 0)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                if self.gate is not None:
                    await self.gate.wait()
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def start(self) -> Service:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.origin = ("127.0.0.1", self._server.sockets[0].getsockname()[1])
        return self

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()


@pytest.fixture
async def services() -> AsyncIterator[tuple[Service, Service]]:
    first, second = await Service().start(), await Service().start()
    yield first, second
    await first.stop()
    await second.stop()


async def get(pool: UpstreamPool, service: Service, read_timeout: float = 10.0) -> bytes:
    response = await pool.request(
        service.origin,
        encode_head("GET", b"/", [(b"host", b"service")]),
        method="GET",
        body=None,
        chunked=False,
        connect_timeout=5.0,
        read_timeout=read_timeout,
    )
    try:
        assert response.status == 200
        return await response.read()
    finally:
        response.release()


async def test_at_the_cap_a_request_waits_for_a_connection_and_reuses_it(
    services: tuple[Service, Service],
) -> None:
    service, _ = services
    pool = UpstreamPool(max_connections=1)
    service.gate = asyncio.Event()
    first = asyncio.create_task(get(pool, service))
    second = asyncio.create_task(get(pool, service))
    await asyncio.sleep(0.05)
    assert pool.open_connections == 1  # the second waits at the cap
    service.gate.set()
    assert await asyncio.gather(first, second) == [b"ok", b"ok"]
    assert service.connections == 1  # the second reused the first's connection
    await pool.close()


async def test_at_the_cap_an_idle_connection_elsewhere_makes_room(
    services: tuple[Service, Service],
) -> None:
    first, second = services
    pool = UpstreamPool(max_connections=1)
    assert await get(pool, first) == b"ok"  # idle now, to the first service
    assert await get(pool, second) == b"ok"
    assert (first.connections, second.connections) == (1, 1)
    assert pool.open_connections == 1
    await pool.close()


async def test_a_wait_at_the_cap_is_bounded_by_the_read_timeout(
    services: tuple[Service, Service],
) -> None:
    service, _ = services
    pool = UpstreamPool(max_connections=1)
    service.gate = asyncio.Event()
    busy = asyncio.create_task(get(pool, service))
    await asyncio.sleep(0.05)
    with pytest.raises(ConnectFailed):
        await get(pool, service, read_timeout=0.2)
    service.gate.set()
    assert await busy == b"ok"
    await pool.close()

"""The proxy's failure paths, each provoked for real (raw sockets on both sides, no
mock): a client body that stalls (408), a pooled connection the service had closed
(retried once on a fresh connection for a request without a body, never for one
with), an answer cut off
mid-stream, and a client that leaves in the middle of its upload (499). Assertions are
on the answers and on the gateway's own counters, never on elapsed time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from tests.gateway.conftest import RunningGateway, StartGateway
from tests.gateway.support import (
    KeyRing,
    RawUpstream,
    counter_value,
    ok_response,
    read_request,
)

FAILURES = "quarry_gateway_upstream_failures_total"
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, int], Awaitable[None]]


@pytest.fixture
async def raw_upstream() -> AsyncIterator[Callable[[Handler], Awaitable[RawUpstream]]]:
    started: list[RawUpstream] = []

    async def start(handler: Handler) -> RawUpstream:
        upstream = await RawUpstream(handler).start()
        started.append(upstream)
        return upstream

    yield start
    for upstream in started:
        await upstream.stop()


async def raw_exchange(gateway: RunningGateway, request: bytes, *, close: bool = False) -> bytes:
    """Send ``request`` on a fresh connection; the bytes the gateway answers (or b"")."""
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.server.port)
    try:
        writer.write(request)
        await writer.drain()
        if close:
            return b""
        return await asyncio.wait_for(reader.read(65536), 30)
    finally:
        writer.close()


def request_head(method: str, path: str, token: str, **headers: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: gateway.test", f"Authorization: Bearer {token}"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def test_a_stalled_request_body_is_a_408(
    start_gateway: StartGateway, keyring: KeyRing
) -> None:
    gateway = await start_gateway(upstream_timeout_seconds=0.5)
    before = counter_value(FAILURES, service="profile", kind="request_timeout")
    head = request_head(
        "POST", "/connect", keyring.mint(), Content_Length="100000", X_Forwarded_For="10.9.0.1"
    )
    answer = await raw_exchange(gateway, head + b"x" * 1000)  # ... and nothing more
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    assert b'"code":"request_timeout"' in answer
    assert b"connection: close" in answer.lower()
    assert counter_value(FAILURES, service="profile", kind="request_timeout") == before + 1


async def test_a_closed_pooled_connection_is_retried_once_without_a_body(
    start_gateway: StartGateway,
    keyring: KeyRing,
    raw_upstream: Callable[[Handler], Awaitable[RawUpstream]],
) -> None:
    """The service answers the first request of each connection and closes the
    connection when a second one arrives on it, as a service does whose keep-alive
    timeout fired just as the gateway reused the connection."""
    seen: list[bytes] = []

    async def first_request_only(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int
    ) -> None:
        request = await read_request(reader)
        if request is None:
            return
        seen.append(request.line)
        writer.write(ok_response())
        await writer.drain()
        if await read_request(reader) is not None:
            seen.append(b"dropped")

    upstream = await raw_upstream(first_request_only)
    gateway = await start_gateway(profile_internal_url=upstream.url)
    headers = {"Authorization": f"Bearer {keyring.mint()}"}
    async with gateway.client() as client:
        assert (await client.get("/sessions", headers=headers)).status_code == 200
        # On the pooled connection: dropped by the service, sent again on a new one.
        assert (await client.get("/sessions", headers=headers)).status_code == 200
        assert upstream.connections == 2
        # A request with a body is never sent twice: the drop is a 502.
        posted = await client.post("/connect", headers=headers, json={"username": "u"})
    assert posted.status_code == 502
    assert posted.json()["error"] == "BAD_GATEWAY"
    assert upstream.connections == 2
    assert seen == [b"GET /sessions HTTP/1.1", b"dropped", b"GET /sessions HTTP/1.1", b"dropped"]


async def test_an_answer_cut_mid_stream_reaches_the_client_truncated(
    start_gateway: StartGateway,
    keyring: KeyRing,
    raw_upstream: Callable[[Handler], Awaitable[RawUpstream]],
) -> None:
    promised, sent = 1024 * 1024, 100 * 1024

    async def cut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % promised)
        writer.write(b"y" * sent)
        await writer.drain()

    upstream = await raw_upstream(cut)
    gateway = await start_gateway(analysis_internal_url=upstream.url)
    before = counter_value(FAILURES, service="analysis", kind="body_cut")
    received = 0
    headers = {"Authorization": f"Bearer {keyring.mint()}"}
    async with (
        gateway.client() as client,
        client.stream("GET", "/api/report/7", headers=headers) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-length"] == str(promised)
        with pytest.raises(httpx.RemoteProtocolError):  # noqa: PT012 - counting until it breaks
            async for chunk in response.aiter_raw():
                received += len(chunk)
    assert received == sent
    assert counter_value(FAILURES, service="analysis", kind="body_cut") == before + 1


async def test_a_client_leaving_mid_upload_is_counted_499(
    start_gateway: StartGateway, keyring: KeyRing
) -> None:
    gateway = await start_gateway()
    gone = counter_value(FAILURES, service="ingest", kind="client_gone")
    answered_499 = counter_value(
        "quarry_http_requests_total",
        service="gateway",
        method="POST",
        route="/files/upload",
        status="499",
    )
    head = request_head(
        "POST",
        "/files/upload",
        keyring.mint(),
        Content_Length="1000000",
        X_Forwarded_For="10.9.0.2",
    )
    await raw_exchange(gateway, head + b"z" * 1000, close=True)
    for _ in range(500):  # bounded wait for the gateway to notice
        if counter_value(FAILURES, service="ingest", kind="client_gone") > gone:
            break
        await asyncio.sleep(0.01)
    assert counter_value(FAILURES, service="ingest", kind="client_gone") == gone + 1
    for _ in range(500):
        status = counter_value(
            "quarry_http_requests_total",
            service="gateway",
            method="POST",
            route="/files/upload",
            status="499",
        )
        if status > answered_499:
            break
        await asyncio.sleep(0.01)
    assert status == answered_499 + 1


async def test_a_service_reading_slowly_does_not_make_the_client_too_slow(
    start_gateway: StartGateway,
    keyring: KeyRing,
    raw_upstream: Callable[[Handler], Awaitable[RawUpstream]],
) -> None:
    """The minimum body rate charges the client only for the time the gateway waits on
    it: a service that reads an upload slowly (backpressure) must not turn a fast
    client into a 408."""

    async def slow_reader(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int
    ) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        got = 0
        while got < length:
            got += len(await reader.read(65_536))
            await asyncio.sleep(0.01)  # ~6 MB/s at most
        writer.write(ok_response(b'{"received": %d}' % got))
        await writer.drain()

    upstream = await raw_upstream(slow_reader)
    gateway = await start_gateway(
        profile_internal_url=upstream.url,
        client_body_min_rate_bytes=50_000_000,  # 50 MB/s: far above what the service reads
        client_body_grace_seconds=0.2,
    )
    async with gateway.client() as client:
        response = await client.post(
            "/connect",
            headers={"Authorization": f"Bearer {keyring.mint()}"},
            content=b"u" * 16_000_000,  # more than the sockets' buffers hold
        )
    assert response.status_code == 200, response.text
    assert response.json() == {"received": 16_000_000}

"""HEAD through the gateway: forwarded upstream as HEAD (not GET), so a large download
moves no body bytes; the gateway's own routes still answer HEAD like GET."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.gateway.conftest import StartGateway
from tests.gateway.support import DownloadCounter, KeyRing, LoopbackServer, factory_service

SIZE = 64 * 1024 * 1024


@pytest.fixture
async def counted() -> AsyncIterator[tuple[DownloadCounter, LoopbackServer]]:
    counter = DownloadCounter()
    server = await LoopbackServer(factory_service(counter)).start()
    yield counter, server
    await server.stop()


async def test_head_through_the_gateway_moves_no_body_bytes(
    start_gateway: StartGateway,
    keyring: KeyRing,
    counted: tuple[DownloadCounter, LoopbackServer],
) -> None:
    counter, service = counted
    gateway = await start_gateway(ingest_internal_url=service.url)
    headers = {"Authorization": f"Bearer {keyring.mint()}"}
    async with gateway.client() as client:
        head = await client.head(f"/files/download/{SIZE}", headers=headers)
        assert head.status_code == 200
        assert head.content == b""
        assert head.headers["content-type"] == "application/octet-stream"
        assert counter.methods == ["HEAD"]
        assert counter.produced_bytes == 0
        get = await client.get(f"/files/download/{SIZE}", headers=headers)
    assert len(get.content) == SIZE
    assert counter.methods == ["HEAD", "GET"]
    assert counter.produced_bytes == SIZE


async def test_head_on_the_gateways_own_routes_is_get_without_a_body(
    start_gateway: StartGateway,
) -> None:
    gateway = await start_gateway()
    async with gateway.client() as client:
        head = await client.head("/api/version")
        get = await client.get("/api/version")
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == get.headers["content-length"]

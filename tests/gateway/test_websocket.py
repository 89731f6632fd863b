"""WebSocket proxying: authenticated handshakes, messages both ways, close codes."""

from __future__ import annotations

import asyncio
import json

import jwt
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from deploy.ports import free_port
from tests.gateway.conftest import RunningGateway, StartGateway, Upstreams
from tests.gateway.support import DownloadCounter, KeyRing, LoopbackServer, factory_service


async def test_messages_flow_both_ways_with_query_api_key(
    gateway: RunningGateway, upstreams: Upstreams
) -> None:
    upstreams.auth.grant("dev-api-key-12345", user_id="u-ws", sid="key:ws", role="service")
    url = f"{gateway.ws_url}/ws/comments/session-123?api_key=dev-api-key-12345&x=1"
    async with connect(url) as ws:
        hello = json.loads(await ws.recv())
        assert hello["type"] == "connected"
        assert hello["path"] == "/ws/comments/session-123"
        assert hello["query"] == "x=1"  # the credential is not passed on
        assert hello["x-api-key"] is None
        token = hello["authorization"].removeprefix("Bearer ")
        assert jwt.decode(token, options={"verify_signature": False})["sub"] == "u-ws"
        await ws.send(json.dumps({"type": "ping"}))
        assert await ws.recv() == 'echo:{"type": "ping"}'
        await ws.send(b"\x00\x01binary")
        assert await ws.recv() == b"\x00\x01binary"


async def test_upstream_close_code_reaches_the_client(
    gateway: RunningGateway, keyring: KeyRing
) -> None:
    headers = {"Authorization": f"Bearer {keyring.mint()}"}
    async with connect(f"{gateway.ws_url}/ws/comments/s-close", additional_headers=headers) as ws:
        await ws.recv()
        await ws.send("close:4001")
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4001
    assert closed.value.rcvd.reason == "bye"


async def test_client_close_code_reaches_the_service(
    gateway: RunningGateway, keyring: KeyRing, upstreams: Upstreams
) -> None:
    headers = {"Authorization": f"Bearer {keyring.mint()}"}
    async with connect(f"{gateway.ws_url}/ws/comments/s-bye", additional_headers=headers) as ws:
        await ws.recv()
        await ws.close(code=4002, reason="client done")
    for _ in range(100):
        if {"ws_closed_by_client": 4002} in upstreams.profile.seen:
            break
        await asyncio.sleep(0.02)
    assert {"ws_closed_by_client": 4002} in upstreams.profile.seen


async def test_handshake_without_credentials_is_refused_in_the_dialect(
    gateway: RunningGateway,
) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with connect(f"{gateway.ws_url}/ws/comments/s1"):
            pass
    response = refused.value.response
    assert response.status_code == 401
    assert json.loads(response.body)["error"] == "AUTHENTICATION_REQUIRED"


async def test_bad_api_key_is_refused(gateway: RunningGateway) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with connect(f"{gateway.ws_url}/ws/comments/s1?api_key=wrong"):
            pass
    assert refused.value.response.status_code == 401


async def test_upstream_refusal_is_passed_on(gateway: RunningGateway, keyring: KeyRing) -> None:
    headers = {"Authorization": f"Bearer {keyring.mint()}"}
    with pytest.raises(InvalidStatus) as refused:
        async with connect(f"{gateway.ws_url}/ws/comments/reject", additional_headers=headers):
            pass
    assert refused.value.response.status_code == 403


async def test_service_down_refuses_with_503(start_gateway: StartGateway, keyring: KeyRing) -> None:
    gateway = await start_gateway(profile_internal_url=f"http://127.0.0.1:{free_port()}")
    headers = {"Authorization": f"Bearer {keyring.mint()}"}
    with pytest.raises(InvalidStatus) as refused:
        async with connect(f"{gateway.ws_url}/ws/comments/s1", additional_headers=headers):
            pass
    assert refused.value.response.status_code == 503


async def test_cookie_handshake_from_another_site_is_refused(
    gateway: RunningGateway, upstreams: Upstreams
) -> None:
    upstreams.auth.grant("ws-cookie-session", sid="sess-ws-cookie")
    headers = {"Cookie": "session_id=ws-cookie-session", "Origin": "https://evil.example"}
    with pytest.raises(InvalidStatus) as refused:
        async with connect(f"{gateway.ws_url}/ws/comments/s1", additional_headers=headers):
            pass
    assert refused.value.response.status_code == 403
    same_site = {"Cookie": "session_id=ws-cookie-session"}
    async with connect(
        f"{gateway.ws_url}/ws/comments/s1", additional_headers=same_site, origin=None
    ) as ws:
        assert json.loads(await ws.recv())["type"] == "connected"


async def test_websocket_rate_limit(start_gateway: StartGateway, keyring: KeyRing) -> None:
    gateway = await start_gateway(rate_limit_websocket="2/60")
    headers = {"Authorization": f"Bearer {keyring.mint()}"}
    for _ in range(2):
        async with connect(f"{gateway.ws_url}/ws/comments/s1", additional_headers=headers) as ws:
            await ws.recv()
    with pytest.raises(InvalidStatus) as refused:
        async with connect(f"{gateway.ws_url}/ws/comments/s1", additional_headers=headers):
            pass
    assert refused.value.response.status_code == 429
    assert json.loads(refused.value.response.body)["error"] == "RATE_LIMIT_EXCEEDED"


async def test_a_websocket_path_that_does_not_exist_is_404(
    start_gateway: StartGateway, keyring: KeyRing
) -> None:
    """Unknown to the gateway, or unknown to the (factory-built) service behind it."""
    service = await LoopbackServer(factory_service(DownloadCounter())).start()
    try:
        gateway = await start_gateway(profile_internal_url=service.url)
        headers = {"Authorization": f"Bearer {keyring.mint()}"}
        for path in ("/ws/nothing", "/ws/comments/a/b", "/ws/comments/no-such-route-here"):
            with pytest.raises(InvalidStatus) as refused:
                async with connect(f"{gateway.ws_url}{path}", additional_headers=headers):
                    pass
            assert refused.value.response.status_code == 404, path
            body = json.loads(refused.value.response.body)
            assert body["error"] == "NOT_FOUND", path
    finally:
        await service.stop()


async def test_messages_over_the_cap_close_both_sides_with_1009(
    start_gateway: StartGateway, keyring: KeyRing, upstreams: Upstreams
) -> None:
    gateway = await start_gateway(websocket_max_message_bytes=1024)
    headers = {"Authorization": f"Bearer {keyring.mint()}"}
    async with connect(f"{gateway.ws_url}/ws/comments/s-cap", additional_headers=headers) as ws:
        await ws.recv()
        await ws.send("y" * 1019)  # its echo ("echo:" + 1019) is at the cap: relayed
        assert await ws.recv() == "echo:" + "y" * 1019
        await ws.send(b"b" * 1024)  # at the cap: relayed
        assert await ws.recv() == b"b" * 1024
        await ws.send(b"z" * 1025)
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1009
    for _ in range(100):
        if {"ws_closed_by_client": 1009} in upstreams.profile.seen:
            break
        await asyncio.sleep(0.02)
    assert {"ws_closed_by_client": 1009} in upstreams.profile.seen
    # The other way: the service sends more than the cap.
    async with connect(f"{gateway.ws_url}/ws/comments/s-cap2", additional_headers=headers) as ws:
        await ws.recv()
        await ws.send("big:2000")
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1009

"""The stream proxy: headers in and out, request ids, client addresses, body limits,
and services that are down or slow."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from deploy.ports import free_port
from shared.proof import GATEWAY_PROOF_HEADER, gateway_proof
from tests.gateway.conftest import RunningGateway, StartGateway, Upstreams
from tests.gateway.support import (
    INTERNAL_TOKEN,
    DownloadCounter,
    KeyRing,
    LoopbackServer,
    counter_value,
    factory_service,
)

FAILURES = "quarry_gateway_upstream_failures_total"


@pytest.fixture
def auth_headers(keyring: KeyRing) -> dict[str, str]:
    return {"Authorization": f"Bearer {keyring.mint()}"}


async def test_request_id_is_kept_when_valid_and_made_otherwise(
    client: httpx.AsyncClient, auth_headers: dict[str, str]
) -> None:
    kept = await client.get(
        "/sessions", headers={**auth_headers, "X-Request-ID": "client-chosen-id-123"}
    )
    assert kept.headers["x-request-id"] == "client-chosen-id-123"
    assert kept.json()["headers"]["x-request-id"] == "client-chosen-id-123"
    made = await client.get("/sessions", headers={**auth_headers, "X-Request-ID": "bad id !"})
    generated = made.headers["x-request-id"]
    assert generated != "bad id !"
    assert len(generated) == 32
    assert made.json()["headers"]["x-request-id"] == generated
    error = await client.get("/nowhere", headers={"X-Request-ID": "error-request-id-1"})
    assert error.json()["request_id"] == "error-request-id-1"


async def test_forwarded_headers_from_a_trusted_proxy(
    client: httpx.AsyncClient, auth_headers: dict[str, str]
) -> None:
    response = await client.get(
        "/sessions",
        headers={
            **auth_headers,
            "X-Forwarded-For": "203.0.113.9",
            "X-Forwarded-Proto": "https",
            "X-Forwarded-Host": "api.example.com",
        },
    )
    headers = response.json()["headers"]
    assert headers["x-forwarded-for"] == "203.0.113.9"
    assert headers["x-real-ip"] == "203.0.113.9"
    assert headers["x-forwarded-proto"] == "https"
    assert headers["x-forwarded-host"] == "api.example.com"


async def test_at_the_edge_client_forwarded_headers_are_ignored(
    start_gateway: StartGateway, keyring: KeyRing
) -> None:
    gateway = await start_gateway(trusted_proxies=[])
    async with httpx.AsyncClient(base_url=gateway.url) as client:
        response = await client.get(
            "/sessions",
            headers={
                "Authorization": f"Bearer {keyring.mint()}",
                "X-Forwarded-For": "6.6.6.6",
                "X-Forwarded-Proto": "https",
                "X-Real-IP": "6.6.6.6",
                "Forwarded": "for=6.6.6.6",
            },
        )
    headers = response.json()["headers"]
    assert headers["x-forwarded-for"] == "127.0.0.1"
    assert headers["x-real-ip"] == "127.0.0.1"
    assert headers["x-forwarded-proto"] == "http"
    assert "forwarded" not in headers


async def test_response_headers_pass_intact_minus_hop_by_hop(
    client: httpx.AsyncClient, auth_headers: dict[str, str]
) -> None:
    response = await client.get("/sessions/cookies", headers=auth_headers)
    assert response.headers.get_list("set-cookie") == [
        "a=1; Path=/; HttpOnly",
        "b=2; Path=/; SameSite=Lax",
    ]
    assert response.headers["x-custom"] == "kept"
    assert "x-hop" not in response.headers
    assert response.headers["x-ratelimit-limit"]


async def test_hop_by_hop_request_headers_are_dropped(
    client: httpx.AsyncClient, auth_headers: dict[str, str]
) -> None:
    response = await client.get(
        "/sessions",
        headers={**auth_headers, "Connection": "keep-alive, X-Secret-Hop", "X-Secret-Hop": "1"},
    )
    headers = response.json()["headers"]
    assert "x-secret-hop" not in headers
    assert "connection" not in headers or "x-secret-hop" not in headers["connection"].lower()


async def test_upstream_status_and_body_are_relayed(
    client: httpx.AsyncClient, auth_headers: dict[str, str]
) -> None:
    response = await client.post(
        "/files/convert?status=422", headers=auth_headers, json={"s3_key": "x"}
    )
    assert response.status_code == 422
    assert response.json()["service"] == "ingest"


async def test_service_down_is_503_in_the_dialect(
    start_gateway: StartGateway, keyring: KeyRing
) -> None:
    gateway = await start_gateway(profile_internal_url=f"http://127.0.0.1:{free_port()}")
    refused = counter_value(FAILURES, service="profile", kind="unavailable")
    async with gateway.client() as client:
        response = await client.get(
            "/sessions", headers={"Authorization": f"Bearer {keyring.mint()}"}
        )
        assert response.status_code == 503
        body = response.json()
        assert body["error"] == "UPSTREAM_UNAVAILABLE"
        assert body["message"] == "The profile service is unavailable"
        # Classified as no connection (a refused connect), not a timeout.
        assert counter_value(FAILURES, service="profile", kind="unavailable") == refused + 1
        # Every other service still answers.
        other = await client.get(
            "/api/exports", headers={"Authorization": f"Bearer {keyring.mint()}"}
        )
        assert other.status_code == 200


async def test_slow_service_is_504_within_the_timeout(
    start_gateway: StartGateway, keyring: KeyRing
) -> None:
    # 2 s, not less: the timeout also bounds the connect, which a loaded machine (load 9)
    # stretched past 0.5 s, and a connect failure is a 503, not this test's 504.
    gateway = await start_gateway(upstream_timeout_seconds=2.0)
    headers = {"Authorization": f"Bearer {keyring.mint()}"}
    timeouts = counter_value(FAILURES, service="analysis", kind="timeout")
    async with gateway.client() as client:
        # The service would answer 200 after 8 s: a 504 is the 2 s timeout firing.
        slow, fast = await asyncio.gather(
            client.get("/api/analysis/slow", params={"seconds": "8"}, headers=headers),
            client.get("/api/exports", headers=headers),
        )
    assert slow.status_code == 504
    assert slow.json() == {
        "code": "gateway_timeout",
        "message": "The analysis service did not answer in time",
        "request_id": slow.headers["x-request-id"],
        "error": "The analysis service did not answer in time",
    }
    assert fast.status_code == 200
    assert counter_value(FAILURES, service="analysis", kind="timeout") == timeouts + 1


async def test_declared_oversized_body_is_refused_before_reading(
    start_gateway: StartGateway, keyring: KeyRing, upstreams: Upstreams
) -> None:
    gateway = await start_gateway(max_body_bytes=1000, max_upload_bytes=5000)
    headers = {"Authorization": f"Bearer {keyring.mint()}"}
    async with gateway.client() as client:
        files = await client.post("/files/upload", headers=headers, content=b"x" * 1001)
        assert files.status_code == 413
        assert files.json()["detail"] == "Request body exceeds the limit of 1000 bytes"
        skype = await client.post("/api/upload", headers=headers, content=b"x" * 4000)
        assert skype.status_code == 200
        assert skype.json()["body_bytes"] == 4000
        too_big = await client.post("/api/upload", headers=headers, content=b"x" * 5001)
        assert too_big.status_code == 413
        assert too_big.json()["error"] == "Request body exceeds the limit of 5000 bytes"


async def test_streamed_oversized_body_is_cut_at_the_limit(
    start_gateway: StartGateway, keyring: KeyRing, upstreams: Upstreams
) -> None:
    gateway = await start_gateway(max_upload_bytes=256 * 1024)
    headers = {"Authorization": f"Bearer {keyring.mint()}"}

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(64):  # 4 MiB in 64 KiB chunks, no Content-Length
            yield b"y" * 65536

    before = upstreams.ingest.largest_body
    async with gateway.client() as client:
        try:
            response: httpx.Response | None = await client.post(
                "/api/upload", headers=headers, content=chunks()
            )
        except httpx.TransportError:
            response = None  # the gateway answered 413 and closed while we were sending
    if response is not None:
        assert response.status_code == 413
        assert response.json()["code"] == "file_too_large"
        assert response.headers["connection"] == "close"
    # The service never received a complete oversized body.
    assert upstreams.ingest.largest_body == before or upstreams.ingest.largest_body <= 256 * 1024


async def test_streamed_body_within_the_limit_arrives_whole(
    client: httpx.AsyncClient, auth_headers: dict[str, str]
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for i in range(32):
            yield bytes([i]) * 100_000

    response = await client.post("/files/upload", headers=auth_headers, content=chunks())
    assert response.status_code == 200
    assert response.json()["body_bytes"] == 3_200_000


async def test_head_and_empty_bodies(
    client: httpx.AsyncClient, auth_headers: dict[str, str]
) -> None:
    head = await client.head("/sessions", headers=auth_headers)
    assert head.status_code == 200
    assert head.content == b""
    empty = await client.post("/disconnect", headers=auth_headers)
    assert empty.status_code == 200
    assert empty.json()["body_bytes"] == 0


async def test_gateway_answers_while_starting_nothing_else(gateway: RunningGateway) -> None:
    # A plain sanity check that the gateway's own routes are not proxied.
    async with gateway.client() as client:
        response = await client.get("/api/version")
    assert response.json() == {"version": gateway.settings.version}


async def test_forwarded_requests_carry_the_gateway_proof_and_clients_cannot_forge_it(
    client: httpx.AsyncClient, auth_headers: dict[str, str]
) -> None:
    response = await client.get(
        "/sessions", headers={**auth_headers, GATEWAY_PROOF_HEADER: "forged-by-the-client"}
    )
    assert response.json()["headers"][GATEWAY_PROOF_HEADER.lower()] == gateway_proof(INTERNAL_TOKEN)


async def test_a_factory_built_service_answers_the_gateway_and_refuses_direct_calls(
    start_gateway: StartGateway, auth_headers: dict[str, str]
) -> None:
    counter = DownloadCounter()
    service = await LoopbackServer(factory_service(counter)).start()
    try:
        gateway = await start_gateway(ingest_internal_url=service.url)
        async with gateway.client() as client:
            through = await client.get("/files/echo", headers=auth_headers)
        async with httpx.AsyncClient(base_url=service.url) as direct:
            around = await direct.get("/files/echo", headers=auth_headers)
    finally:
        await service.stop()
    assert through.status_code == 200
    assert around.status_code == 403
    assert around.json()["detail"] == "This service answers only requests forwarded by the gateway"
    assert len(counter.headers) == 1

"""shared.proof: a service built with create_service_app answers its public routes only
with the gateway's proof; /health and /metrics stay open; /internal and /webhooks keep
their own guards; forwarding headers count only on proven requests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Request, WebSocket

from shared.errors import Unauthorized
from shared.internal import check_internal_token
from shared.proof import GATEWAY_PROOF_HEADER, gateway_proof, proof_headers, via_gateway
from shared.service_app import create_service_app
from shared.settings import CommonSettings

TOKEN = "proof-test-internal-token-0123456789"
router = APIRouter()


@router.get("/api/exports")
async def exports(request: Request) -> dict[str, Any]:
    return {"headers": dict(request.headers), "via_gateway": via_gateway(request)}


@router.get("/internal/thing")
async def internal(request: Request) -> dict[str, Any]:
    check_internal_token(request, TOKEN)
    return {"headers": dict(request.headers)}


@router.post("/webhooks/parser")
async def webhook(request: Request) -> dict[str, Any]:
    if request.headers.get("x-quarry-signature") != "signed":
        raise Unauthorized("Bad signature")
    return {"headers": dict(request.headers)}


@router.websocket("/ws/comments/{session_id}")
async def comments(websocket: WebSocket, session_id: str) -> None:
    await websocket.accept()
    await websocket.send_text(session_id)
    await websocket.close()


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield


def make_app() -> FastAPI:
    return create_service_app(
        name="demo",
        title="demo",
        settings=CommonSettings(internal_token=TOKEN, log_json=False),
        lifespan=lifespan,
        routers=[router],
    )


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=make_app(), client=("127.0.0.1", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://demo") as c:
        yield c


def test_the_proof_is_derived_from_the_internal_token_and_is_not_it() -> None:
    assert gateway_proof(TOKEN) == gateway_proof(TOKEN)
    assert gateway_proof(TOKEN) != gateway_proof(TOKEN + "x")
    assert TOKEN not in gateway_proof(TOKEN)
    assert len(gateway_proof(TOKEN)) == 64


async def test_public_routes_need_the_proof(client: httpx.AsyncClient) -> None:
    refused = await client.get("/api/exports")
    assert refused.status_code == 403
    assert refused.json()["code"] == "insufficient_permissions"
    assert refused.json()["error"] == "This service answers only requests forwarded by the gateway"
    wrong = await client.get("/api/exports", headers={GATEWAY_PROOF_HEADER: "0" * 64})
    assert wrong.status_code == 403
    proven = await client.get("/api/exports", headers=proof_headers(TOKEN))
    assert proven.status_code == 200
    assert proven.json()["via_gateway"] is True
    # The proof is not handed on to the route's code (nor to its logs).
    assert GATEWAY_PROOF_HEADER.lower() not in proven.json()["headers"]


async def test_openapi_needs_the_proof_health_and_metrics_do_not(
    client: httpx.AsyncClient,
) -> None:
    assert (await client.get("/openapi.json")).status_code == 403
    document = await client.get("/openapi.json", headers=proof_headers(TOKEN))
    assert document.status_code == 200
    assert "/api/exports" in document.json()["paths"]
    assert (await client.get("/metrics")).status_code == 200
    assert (await client.get("/health")).status_code == 200


async def test_internal_and_webhook_routes_keep_their_own_guards(
    client: httpx.AsyncClient,
) -> None:
    assert (await client.get("/internal/thing")).status_code == 401
    internal = await client.get("/internal/thing", headers={"X-Internal-Token": TOKEN})
    assert internal.status_code == 200
    assert (await client.post("/webhooks/parser")).status_code == 401
    signed = await client.post("/webhooks/parser", headers={"X-Quarry-Signature": "signed"})
    assert signed.status_code == 200


async def test_forwarding_headers_count_only_on_proven_requests(
    client: httpx.AsyncClient,
) -> None:
    forwarded = {
        "X-Forwarded-For": "203.0.113.7",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "evil.example",
        "X-Real-IP": "203.0.113.7",
        "Forwarded": "for=203.0.113.7",
    }
    direct = await client.get("/internal/thing", headers={**forwarded, "X-Internal-Token": TOKEN})
    headers = direct.json()["headers"]
    assert not {"x-forwarded-for", "x-forwarded-proto", "x-real-ip", "forwarded"} & set(headers)
    proven = await client.get("/api/exports", headers={**forwarded, **proof_headers(TOKEN)})
    headers = proven.json()["headers"]
    assert headers["x-forwarded-for"] == "203.0.113.7"
    assert headers["x-forwarded-proto"] == "https"


async def _handshake(app: FastAPI, headers: dict[str, str]) -> list[dict[str, Any]]:
    """What the app sends back for one WebSocket handshake (raw ASGI, no server)."""
    incoming = [{"type": "websocket.connect"}, {"type": "websocket.disconnect", "code": 1000}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "path": "/ws/comments/s-1",
        "raw_path": b"/ws/comments/s-1",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 5000),
        "server": ("demo", 80),
        "scheme": "ws",
        "subprotocols": [],
    }
    await app(scope, receive, send)
    return sent


async def test_websocket_handshake_needs_the_proof() -> None:
    app = make_app()
    refused = await _handshake(app, {})
    assert refused == [
        {
            "type": "websocket.close",
            "code": 1008,
            "reason": "This service answers only requests forwarded by the gateway",
        }
    ]
    accepted = await _handshake(app, proof_headers(TOKEN))
    assert accepted[0]["type"] == "websocket.accept"
    assert accepted[1] == {"type": "websocket.send", "text": "s-1"}

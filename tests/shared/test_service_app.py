from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import APIRouter, FastAPI
from pydantic import BaseModel

from deploy.topology import SERVICES
from shared.errors import NotFound
from shared.proof import GatewayProofMiddleware, proof_headers
from shared.service_app import create_service_app
from shared.settings import CommonSettings

router = APIRouter()
TOKEN = "service-app-test-token-0123456789"


class Login(BaseModel):
    username: str
    password: str


@router.post("/api/login")
async def skype_login(body: Login) -> dict[str, str]:
    return {"username": body.username}


@router.post("/api/auth/login/")
async def pyanalypt_login(body: Login) -> dict[str, str]:
    return {"username": body.username}


@router.get("/api/analysis/{export_id}")
async def analysis(export_id: int) -> dict[str, int]:
    raise NotFound("Export not found")


@router.get("/boom")
async def boom() -> None:
    raise RuntimeError("secret connection string postgresql://u:p@db-internal:5432")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    async def ok() -> None:
        return None

    app.state.health_checks["database"] = ok
    yield


def client() -> httpx.AsyncClient:
    app = create_service_app(
        name="demo",
        title="demo",
        settings=CommonSettings(log_json=True, internal_token=TOKEN),
        lifespan=lifespan,
        routers=[router],
    )
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(
        transport=transport, base_url="http://demo", headers=proof_headers(TOKEN)
    )


async def test_validation_status_and_shape_follow_the_route_dialect() -> None:
    async with client() as c:
        skype = await c.post("/api/login", json={"username": "a"})
        pyan = await c.post("/api/auth/login/", json={"username": "a"})
    assert skype.status_code == 400
    assert "password" in skype.json()["error"]
    assert pyan.status_code == 422
    assert pyan.json()["detail"][0]["loc"] == ["body", "password"]
    assert skype.json()["code"] == pyan.json()["code"] == "validation_error"


async def test_typed_error_is_rendered_with_request_id() -> None:
    async with client() as c:
        r = await c.get("/api/analysis/7", headers={"X-Request-ID": "req-abcdef123"})
    assert r.status_code == 404
    assert r.headers["x-request-id"] == "req-abcdef123"
    assert r.json() == {
        "code": "not_found",
        "message": "Export not found",
        "request_id": "req-abcdef123",
        "error": "Export not found",
    }


async def test_unknown_route_is_a_dialect_404_and_invalid_request_id_is_replaced() -> None:
    async with client() as c:
        r = await c.get("/client/nothing", headers={"X-Request-ID": "bad id with spaces"})
    assert r.status_code == 404
    assert r.json()["error_code"] == "not_found"
    assert r.headers["x-request-id"] != "bad id with spaces"
    assert len(r.headers["x-request-id"]) == 32


async def test_unexpected_error_reveals_nothing_internal() -> None:
    async with client() as c:
        r = await c.get("/boom")
    assert r.status_code == 500
    assert "postgresql" not in r.text
    assert "Traceback" not in r.text
    assert r.json()["request_id"] == r.headers["x-request-id"]


async def test_health_and_metrics_are_served() -> None:
    app_client = client()
    app = app_client._transport.app  # type: ignore[attr-defined]
    async with app.router.lifespan_context(app), app_client as c:
        health = await c.get("/health")
        await c.get("/api/analysis/1")
        metrics = await c.get("/metrics")
    assert health.status_code == 200
    assert health.json()["components"]["database"]["status"] == "healthy"
    assert 'route="/api/analysis/{export_id}"' in metrics.text


def test_every_service_of_the_platform_requires_the_gateway_proof() -> None:
    for service in SERVICES:
        app = importlib.import_module(f"{service.module}.app").create_app()
        stack = [m.cls for m in app.user_middleware]
        assert GatewayProofMiddleware in stack, service.name

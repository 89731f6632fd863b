"""Skype system routes (``/api/health``, ``/api/version``) and the Profile ``/healthcheck``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from gateway.dependencies import RuntimeDep

router = APIRouter(tags=["System"])
SERVICE_NAME = "Quarry API Gateway"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class HealthCheck(BaseModel):
    status: str
    timestamp: str
    version: str
    components: dict[str, Any]


class Version(BaseModel):
    version: str


class BasicHealth(BaseModel):
    status: str
    timestamp: str
    version: str
    service: str


@router.get(
    "/api/health",
    response_model=HealthCheck,
    summary="Check the health of the API",
    responses={503: {"model": HealthCheck, "description": "A component is unhealthy"}},
)
async def api_health(runtime: RuntimeDep) -> JSONResponse:
    """200 only when every component (services, PostgreSQL, Redis, S3, SQS, worker) is healthy."""
    components = await runtime.health.components()
    status = runtime.health.status(components)
    body = {
        "status": status,
        "timestamp": now_iso(),
        "version": runtime.settings.version,
        "components": components,
    }
    return JSONResponse(body, status_code=200 if status == "healthy" else 503)


@router.get("/api/version", response_model=Version, summary="Get API version")
async def api_version(runtime: RuntimeDep) -> Version:
    return Version(version=runtime.settings.version)


@router.get("/healthcheck", response_model=BasicHealth, summary="Basic health check")
async def healthcheck(runtime: RuntimeDep) -> BasicHealth:
    """The gateway is up and answering (no dependency is consulted)."""
    return BasicHealth(
        status="healthy",
        timestamp=now_iso(),
        version=runtime.settings.version,
        service=SERVICE_NAME,
    )

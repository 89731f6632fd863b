"""Routes other services call (``X-Internal-Token``; never routed by the gateway)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Body, Depends

from services.analysis.dependencies import ChatExportsDep, DatasetsDep, require_internal_token
from services.analysis.service.datasets import now

router = APIRouter(
    prefix="/internal", include_in_schema=False, dependencies=[Depends(require_internal_token)]
)


@router.post("/datasets")
async def register_dataset(
    datasets: DatasetsDep, payload: dict[str, Any] = Body(...)
) -> dict[str, Any]:
    """ingest registers a dataset upload here before it queues its profile job."""
    return await datasets.register(payload)


@router.post("/datasets/expire")
async def expire_datasets(
    datasets: DatasetsDep, payload: dict[str, Any] | None = Body(None)
) -> dict[str, Any]:
    """Run the guest-upload sweep now, as of ``{"now": "<ISO time>"}`` (default: now):
    an operator's lever, and the tests' clock."""
    at = now()
    if payload and payload.get("now"):
        at = datetime.fromisoformat(str(payload["now"]))
    return {"removed": await datasets.expire(at)}


@router.post("/chat-exports/expire")
async def expire_chat_exports(
    exports: ChatExportsDep, payload: dict[str, Any] | None = Body(None)
) -> dict[str, Any]:
    """Run the kept-export sweep now, as of ``{"now": "<ISO time>"}`` (default: now)."""
    at = now()
    if payload and payload.get("now"):
        at = datetime.fromisoformat(str(payload["now"]))
    return {"removed": await exports.expire(at)}

"""Routes other services call (``X-Internal-Token``; never routed by the gateway)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Body, Depends

from services.analysis.dependencies import DatasetsDep, require_internal_token
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

"""The worker's signed webhooks (never routed by the gateway): job progress and outcome."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from services.ingest.dependencies import JobUpdatesDep, SettingsDep
from shared.webhook_receiver import read_signed_event

router = APIRouter(include_in_schema=False)


@router.post("/webhooks/{topic}")
async def webhook(
    topic: str, request: Request, updates: JobUpdatesDep, settings: SettingsDep
) -> dict[str, Any]:
    event = await read_signed_event(
        request, topic, settings.webhook_secret, tolerance=settings.webhook_tolerance_seconds
    )
    return await updates.apply(event)

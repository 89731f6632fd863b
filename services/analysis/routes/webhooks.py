"""The worker's signed webhooks (never routed by the gateway): results to store."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from services.analysis.dependencies import DatasetResultsDep, SettingsDep, SkypeLoadingDep
from shared.webhook_receiver import read_signed_event

router = APIRouter(include_in_schema=False)


@router.post("/webhooks/{topic}")
async def webhook(
    topic: str,
    request: Request,
    loading: SkypeLoadingDep,
    datasets: DatasetResultsDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    event = await read_signed_event(
        request, topic, settings.webhook_secret, tolerance=settings.webhook_tolerance_seconds
    )
    if topic.startswith("dataset."):
        return await datasets.apply(event)
    return await loading.apply(event)

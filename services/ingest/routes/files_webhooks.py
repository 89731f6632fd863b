"""The Files system's worker webhooks (never routed by the gateway):
``/webhooks/converter-webhook``, ``/webhooks/parser-webhook``,
``/webhooks/analysis-webhook``. Registered before the generic ``/webhooks/{topic}``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from services.ingest.dependencies import DocumentResultsDep, SettingsDep
from services.ingest.service.document_results import NO_CONTENT, TOPIC_JOBS
from shared.webhook_receiver import read_signed_event

router = APIRouter(include_in_schema=False)

Receiver = Callable[[Request, DocumentResultsDep, SettingsDep], Awaitable[Response]]


def _receiver(topic: str) -> Receiver:
    async def receive(
        request: Request, results: DocumentResultsDep, settings: SettingsDep
    ) -> Response:
        event = await read_signed_event(
            request, topic, settings.webhook_secret, tolerance=settings.webhook_tolerance_seconds
        )
        answer = await results.apply(event)
        if answer == NO_CONTENT:
            return Response(status_code=204)
        return JSONResponse(answer)

    receive.__name__ = topic.replace("-", "_")
    return receive


for _topic in TOPIC_JOBS:
    router.add_api_route(f"/webhooks/{_topic}", _receiver(_topic), methods=["POST"])

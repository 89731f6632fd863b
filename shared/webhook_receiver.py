"""The receiving end of the worker's signed webhooks (the sending end: the worker's
``WebhookClient``; the signature itself: :mod:`shared.webhooks`).

A receiver reads the event with :func:`read_signed_event` (401 when the signature
is missing, wrong or outside the replay window; the body is a JSON object whose
``topic`` names the route it was sent to), applies it at most once by its
event id (a table per receiving service) and answers JSON, the same answer again
for a retried event.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import Request

from shared.errors import BadRequest, PayloadTooLarge, Unauthorized
from shared.webhooks import WebhookSignatureError, verify

MAX_WEBHOOK_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class SignedEvent:
    event_id: str
    topic: str
    payload: dict[str, Any]


async def read_signed_event(
    request: Request, topic: str, secret: str, *, tolerance: int
) -> SignedEvent:
    """The verified event of a webhook request whose JSON body is an object."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_WEBHOOK_BYTES:
        raise PayloadTooLarge("Webhook body too large")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_WEBHOOK_BYTES:
            raise PayloadTooLarge("Webhook body too large")
    raw = bytes(body)
    try:
        event_id = verify(secret, dict(request.headers), raw, tolerance=tolerance)
    except WebhookSignatureError as exc:
        raise Unauthorized(f"Webhook refused: {exc}") from exc
    if len(event_id) > 128:
        raise BadRequest("Webhook event id too long")
    try:
        payload = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest("Webhook body is not JSON") from exc
    if not isinstance(payload, dict):
        raise BadRequest("Webhook body is not a JSON object")
    # The topic is signed too (inside the body), so a captured event cannot be
    # replayed to another topic's route.
    if payload.pop("topic", None) != topic:
        raise BadRequest("Webhook topic does not match its route")
    return SignedEvent(event_id=event_id, topic=topic, payload=payload)

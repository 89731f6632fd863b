"""Delivering the worker's webhooks: HMAC-signed and timestamped (:mod:`shared.webhooks`),
with an event id that stays the same across retries, so the receiver applies each
event once. Transient failures (connection, 5xx, 408, 429) are retried with
jittered exponential backoff within a time budget; a 4xx is final."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
import orjson

from services.ingest.worker.errors import WebhookRejected, WebhookUndeliverable
from shared.backoff import Backoff
from shared.log import get_logger
from shared.webhooks import sign

log = get_logger("services.ingest.worker.webhooks")

RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


class WebhookClient:
    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        secret: str,
        receivers: dict[str, str],
        timeout: float,
        retry_budget: float,
    ) -> None:
        self._http = http
        self._secret = secret
        self._receivers = receivers
        self._timeout = timeout
        self._budget = retry_budget

    async def deliver(
        self,
        service: str,
        topic: str,
        payload: dict[str, Any],
        *,
        event_id: str | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """POST ``payload`` to ``service``'s ``/webhooks/<topic>``; its JSON answer."""
        base = self._receivers.get(service)
        if base is None:
            raise ValueError(f"no webhook receiver named {service!r}")
        event_id = event_id or str(uuid.uuid4())
        body = orjson.dumps({"topic": topic, **payload})
        url = f"{base}/webhooks/{topic}"
        deadline = time.monotonic() + self._budget
        attempt = 0
        delays = Backoff(base=0.2, cap=5.0)
        while True:
            attempt += 1
            error: str
            try:
                headers = {"Content-Type": "application/json", **sign(self._secret, event_id, body)}
                response = await self._http.post(
                    url, content=body, headers=headers, timeout=timeout or self._timeout
                )
                if response.status_code < 300:
                    answer: dict[str, Any] = response.json() if response.content else {}
                    return answer
                if response.status_code not in RETRYABLE_STATUS:
                    raise WebhookRejected(response.status_code, response.text)
                error = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
            delay = delays.next()
            if time.monotonic() + delay > deadline:
                raise WebhookUndeliverable(
                    f"{service} did not accept {topic} after {attempt} attempts ({error})"
                )
            log.warning("webhook_retry", service=service, topic=topic, attempt=attempt, error=error)
            await asyncio.sleep(delay)

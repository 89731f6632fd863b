"""Signed webhooks: HMAC-SHA256 over ``<timestamp>.<event id>.<body>``, with a replay window.

Receivers also deduplicate by event id (at-least-once delivery from SQS).
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-Quarry-Signature"
EVENT_ID_HEADER = "X-Quarry-Event-Id"
DEFAULT_TOLERANCE_SECONDS = 300


class WebhookSignatureError(Exception):
    """The signature is missing, malformed, wrong or outside the replay window."""


def _digest(secret: str, timestamp: int, event_id: str, body: bytes) -> str:
    message = f"{timestamp}.{event_id}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign(secret: str, event_id: str, body: bytes, *, now: float | None = None) -> dict[str, str]:
    """Headers to send with a webhook ``body``."""
    timestamp = int(now if now is not None else time.time())
    digest = _digest(secret, timestamp, event_id, body)
    return {SIGNATURE_HEADER: f"t={timestamp},v1={digest}", EVENT_ID_HEADER: event_id}


def verify(
    secret: str,
    headers: dict[str, str],
    body: bytes,
    *,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> str:
    """The event id of a correctly signed, fresh webhook; raises otherwise."""
    lowered = {k.lower(): v for k, v in headers.items()}
    event_id = lowered.get(EVENT_ID_HEADER.lower())
    header = lowered.get(SIGNATURE_HEADER.lower())
    if not event_id or not header:
        raise WebhookSignatureError("missing signature")
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
        given = parts["v1"]
    except (KeyError, ValueError) as exc:
        raise WebhookSignatureError("malformed signature") from exc
    current = now if now is not None else time.time()
    if abs(current - timestamp) > tolerance:
        raise WebhookSignatureError("signature outside the replay window")
    expected = _digest(secret, timestamp, event_id, body)
    if not hmac.compare_digest(expected, given):
        raise WebhookSignatureError("bad signature")
    return event_id

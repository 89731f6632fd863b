"""A job message as it arrives from SQS: a JSON object with a ``type``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


class MalformedMessage(ValueError):
    """The body is not a JSON object with a string ``type``."""


@dataclass(frozen=True)
class JobMessage:
    message_id: str
    receipt_handle: str
    type: str
    body: dict[str, Any]
    receive_count: int

    @classmethod
    def from_sqs(cls, message: dict[str, Any]) -> JobMessage:
        try:
            body = json.loads(message.get("Body") or "")
        except json.JSONDecodeError as exc:
            raise MalformedMessage("body is not JSON") from exc
        if not isinstance(body, dict) or not isinstance(body.get("type"), str):
            raise MalformedMessage("body has no string 'type'")
        attributes = message.get("Attributes") or {}
        return cls(
            message_id=str(message["MessageId"]),
            receipt_handle=str(message["ReceiptHandle"]),
            type=body["type"],
            body=body,
            receive_count=int(attributes.get("ApproximateReceiveCount", 1)),
        )

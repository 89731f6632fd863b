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


@dataclass(frozen=True)
class FileRef:
    """The object a job works on (the ``file`` of a job message)."""

    file_id: int | None
    bucket: str
    key: str
    size: int
    sha256: str
    kind: str
    filename: str


@dataclass(frozen=True)
class OwnerRef:
    user_id: str | None
    client_id: str | None
    session_id: str | None


@dataclass(frozen=True)
class JobSpec:
    """A job message's body (docs/DESIGN.md "Pipeline")::

    {"type", "job_id", "file": {"file_id", "bucket", "key", "size", "sha256", "kind",
     "filename"}, "owner": {"user_id", "client_id", "session_id"}, "params": {...}}
    """

    type: str
    job_id: str
    file: FileRef
    owner: OwnerRef
    params: dict[str, Any]

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> JobSpec:
        try:
            file = body["file"]
            owner = body.get("owner") or {}
            params = body.get("params") or {}
            if not isinstance(file, dict) or not isinstance(owner, dict):
                raise TypeError("file and owner must be objects")
            if not isinstance(params, dict):
                raise TypeError("params must be an object")
            return cls(
                type=str(body["type"]),
                job_id=str(body["job_id"]),
                file=FileRef(
                    file_id=int(file["file_id"]) if file.get("file_id") is not None else None,
                    bucket=str(file["bucket"]),
                    key=str(file["key"]),
                    size=int(file["size"]),
                    sha256=str(file.get("sha256") or ""),
                    kind=str(file.get("kind") or ""),
                    filename=str(file.get("filename") or ""),
                ),
                owner=OwnerRef(
                    user_id=_optional(owner.get("user_id")),
                    client_id=_optional(owner.get("client_id")),
                    session_id=_optional(owner.get("session_id")),
                ),
                params=params,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise MalformedMessage(f"not a job message: {exc!r}") from exc


def _optional(value: Any) -> str | None:
    return None if value is None else str(value)

"""Small handcrafted exports for the parser tests."""

from __future__ import annotations

import io
import json
from typing import Any

from services.ingest.worker.skype import ParseLimits, SkypeMessage, parse_export
from services.ingest.worker.skype.parser import ParsedExport

OWNER = "8:live:.cid.owner"


def message(
    content: str = "hello",
    *,
    messagetype: str = "RichText",
    sender: str = "8:ana",
    at: str = "2020-07-06T17:20:30.609Z",
    message_id: str = "1594056030609",
    properties: dict[str, Any] | None = None,
    display_name: str | None = None,
    conversation: str = "8:ana",
) -> dict[str, Any]:
    return {
        "id": message_id,
        "displayName": display_name,
        "originalarrivaltime": at,
        "messagetype": messagetype,
        "version": 1594056030609,
        "content": content,
        "conversationid": conversation,
        "from": sender,
        "properties": properties,
        "amsreferences": None,
    }


def conversation(
    messages: list[dict[str, Any]],
    *,
    identity: str = "8:ana",
    name: str | None = "Ana R",
    thread: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "id": identity,
        "displayName": name,
        "version": 1594056032575,
        "properties": {"conversationblocked": False},
        "threadProperties": thread,
        "MessageList": messages,
    }


def export(*conversations: dict[str, Any], user_id: str = OWNER) -> bytes:
    document = {
        "userId": user_id,
        "exportDate": "2020-07-06T20:55",
        "conversations": list(conversations),
    }
    return json.dumps(document).encode()


def parse(
    data: bytes, limits: ParseLimits | None = None
) -> tuple[list[SkypeMessage], ParsedExport]:
    parsed = parse_export(io.BytesIO(data), limits)
    return list(parsed.messages()), parsed


def one(content: str, **fields: Any) -> SkypeMessage:
    messages, _ = parse(export(conversation([message(content, **fields)])))
    assert len(messages) == 1
    return messages[0]

"""The WebSocket messages of the spec, and the Redis channels that carry them.

Comments are rendered once, by the replica that stores them, into the exact text each
subscriber receives; the channel payload is ``{"items": [[seq, text], ...]}`` so a
replica forwards the texts without parsing or re-serialising them per subscriber.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from services.profile.clock import iso
from services.profile.live.sources import Comment


def session_channel(namespace: str, client_id: str, session_id: str) -> str:
    """The channel of one tenant's session id (it exists before the session does: a
    client may open the WebSocket first and call /connect afterwards)."""
    digest = hashlib.sha256(f"{client_id}\0{session_id}".encode()).hexdigest()[:32]
    return f"{namespace}:ws:{digest}"


def comment_data(comment: Comment, session_id: str, seq: int) -> dict[str, Any]:
    return {
        "id": comment.comment_id,
        "comment": comment.text,
        "user": {
            "username": comment.username,
            "nickname": comment.nickname,
            "userId": comment.user_id,
            "avatar_url": comment.avatar_url,
        },
        "timestamp": iso(comment.commented_at),
        "session_id": session_id,
        "seq": seq,
    }


def comment_message(data: dict[str, Any]) -> str:
    return orjson.dumps({"type": "comment", "data": data}).decode()


def items_payload(items: list[tuple[int, str]]) -> bytes:
    return orjson.dumps({"items": items})


def status_payload(session_id: str, status: str, reason: str | None = None) -> bytes:
    message = {
        "type": "session_status",
        "session_id": session_id,
        "status": status,
        "tiktok_connected": status == "connected",
        "reason": reason,
    }
    return orjson.dumps({"status": orjson.dumps(message).decode()})


def connected_message(session_id: str) -> str:
    return orjson.dumps(
        {
            "type": "connected",
            "session_id": session_id,
            "message": f"WebSocket connected for session {session_id}",
        }
    ).decode()


def status_response(session_id: str, status: str | None) -> str:
    return orjson.dumps(
        {
            "type": "status_response",
            "session_id": session_id,
            "tiktok_connected": status == "connected",
            "status": status or "not_connected",
        }
    ).decode()


PONG = orjson.dumps({"type": "pong"}).decode()

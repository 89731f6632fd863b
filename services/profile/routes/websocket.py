"""``WS /ws/comments/{session_id}`` (spec: "WebSocket API").

Authentication is the gateway's (``?api_key=`` or ``Authorization: Bearer``); this
service verifies the forwarded access token and needs the ``read`` permission.

Client messages: ``{"type": "ping"}`` → ``{"type": "pong"}``; ``{"type": "status"}`` →
``{"type": "status_response", "session_id", "tiktok_connected", "status"}``.
Server messages: ``connected`` first, then the replay (the last ``?replay=N`` comments,
default ``PROFILE_WS_REPLAY_COUNT``, or every comment after ``?since=<seq>``), then live
``comment`` messages and ``session_status`` changes (connected, reconnecting, ended,
disconnected). The socket may be opened before ``/connect``: comments flow once the
session is connected. A client that cannot keep up is closed with 1008
``slow consumer: ...``.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from typing import Annotated

import orjson
from fastapi import APIRouter, Query, WebSocket
from starlette.websockets import WebSocketDisconnect

from services.profile.dependencies import websocket_principal, websocket_runtime
from services.profile.live.hub import Subscriber
from services.profile.live.messages import PONG, status_response
from services.profile.schemas import SESSION_ID
from services.profile.service.live import LiveService, wait_closed
from shared.errors import QuarryError
from shared.identity import Principal

router = APIRouter()
POLICY_VIOLATION = 1008
_SESSION_ID = re.compile(SESSION_ID)


@router.websocket("/ws/comments/{session_id}")
async def comments(
    websocket: WebSocket,
    session_id: str,
    since: Annotated[int | None, Query(ge=0)] = None,
    replay: Annotated[int | None, Query(ge=0, le=1000)] = None,
) -> None:
    runtime = websocket_runtime(websocket)
    try:
        principal = await websocket_principal(websocket, runtime)
    except QuarryError as exc:
        await websocket.close(code=POLICY_VIOLATION, reason=exc.message[:120])
        return
    if not _SESSION_ID.match(session_id):
        await websocket.close(code=POLICY_VIOLATION, reason="invalid session id")
        return
    await websocket.accept()
    settings = runtime.settings
    subscriber = Subscriber(
        websocket, queue_size=settings.ws_queue_size, send_timeout=settings.ws_send_timeout
    )
    writer = asyncio.create_task(subscriber.write(), name=f"ws-writer-{subscriber.id}")
    live = runtime.live
    channel, key = await live.subscribe(
        subscriber,
        principal.client_id,
        session_id,
        since=since,
        replay=settings.ws_replay_count if replay is None else replay,
    )
    receiver = asyncio.create_task(_receive(websocket, live, principal, session_id, subscriber))
    try:
        await wait_closed(subscriber, receiver)
    finally:
        await live.unsubscribe(channel, key, subscriber)
        receiver.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await receiver
        subscriber.close()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await writer


async def _receive(
    websocket: WebSocket,
    live: LiveService,
    principal: Principal,
    session_id: str,
    subscriber: Subscriber,
) -> None:
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            raw = message.get("text")
            if raw is None and message.get("bytes") is not None:
                raw = message["bytes"].decode("utf-8", "replace")
            try:
                data = orjson.loads(raw or "")
            except orjson.JSONDecodeError:
                data = None
            kind = data.get("type") if isinstance(data, dict) else None
            if kind == "ping":
                subscriber.send(PONG)
            elif kind == "status":
                status = await live.session_status(principal.client_id, session_id)
                subscriber.send(status_response(session_id, status))
            else:
                subscriber.send(
                    orjson.dumps(
                        {
                            "type": "error",
                            "message": 'Unknown message: send {"type": "ping"} or "status"',
                        }
                    ).decode()
                )

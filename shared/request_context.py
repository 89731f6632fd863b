"""Request ids: kept from a valid incoming ``X-Request-ID``, made otherwise.

A pure ASGI middleware (no body buffering) stores the id in a context variable
that the logger and the error renderer read.
"""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = "x-request-id"
_VALID = re.compile(r"^[A-Za-z0-9._:\-]{8,128}$")
request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)


def new_request_id() -> str:
    return uuid.uuid4().hex


def accept_request_id(incoming: str | None) -> str:
    """The incoming id when it is well-formed, a fresh one otherwise."""
    if incoming and _VALID.match(incoming):
        return incoming
    return new_request_id()


def current_request_id() -> str | None:
    return request_id_var.get()


def header_value(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


class RequestIdMiddleware:
    """Sets ``scope["state"]["request_id"]``, the context variable and the response header."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = accept_request_id(header_value(scope, b"x-request-id"))
        scope.setdefault("state", {})["request_id"] = request_id
        token = request_id_var.set(request_id)

        if scope["type"] == "websocket":
            # Nothing to add to a WebSocket's messages: its frames go to uvicorn without
            # one more coroutine each (a comment fan-out sends thousands a second).
            try:
                await self.app(scope, receive, send)
            finally:
                request_id_var.reset(token)
            return

        header = (b"x-request-id", request_id.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                # The only writer of a response's X-Request-ID (the gateway drops the
                # services' own): appended, no scan of the headers.
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)

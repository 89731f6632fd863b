"""What HTTP clients of the specs take for granted, for every process.

- ``HeadAsGetMiddleware``: ``HEAD`` on a ``GET`` route answers like ``GET`` (status
  and headers) without a body. FastAPI's ``@get`` routes otherwise answer 405.
- ``JsonBodyMiddleware``: ``curl -d '{...}'`` without ``-H "Content-Type:
  application/json"`` (as in the Profile spec's key-generation example) sends
  ``application/x-www-form-urlencoded``; a body that is in fact a JSON object or
  array is read as JSON. Real form data never parses as JSON and is left alone.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

FORM_CONTENT_TYPE = b"application/x-www-form-urlencoded"
MAX_SNIFFED_BYTES = 1024 * 1024


class HeadAsGetMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def send_without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, send_without_body)


def _content_type(scope: Scope) -> bytes:
    for name, value in scope["headers"]:
        if name == b"content-type":
            return bytes(value).split(b";")[0].strip().lower()
    return b""


def _is_json(body: bytes) -> bool:
    if body.lstrip()[:1] not in (b"{", b"["):
        return False
    try:
        json.loads(body)
    except ValueError:
        return False
    return True


class JsonBodyMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int = MAX_SNIFFED_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _content_type(scope) != FORM_CONTENT_TYPE:
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        pending: list[Message] = []
        while more and size <= self.max_bytes:
            message = await receive()
            if message["type"] != "http.request":
                pending.append(message)  # a disconnect: replay it after the body
                more = False
                break
            chunk = message.get("body", b"")
            chunks.append(chunk)
            size += len(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if not more and _is_json(body):
            headers = [(n, v) for n, v in scope["headers"] if n != b"content-type"]
            scope = {**scope, "headers": [*headers, (b"content-type", b"application/json")]}
        replay: list[Message] = [{"type": "http.request", "body": body, "more_body": more}]
        replay.extend(pending)

        async def replaying_receive() -> Message:
            if replay:
                return replay.pop(0)
            return await receive()

        await self.app(scope, replaying_receive, send)

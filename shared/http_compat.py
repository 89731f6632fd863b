"""What HTTP clients of the specs take for granted, for every process.

- ``HeadAsGetMiddleware``: ``HEAD`` on a ``GET`` route answers like ``GET`` (status
  and headers) without a body, and without producing one it would throw away.
  FastAPI's ``@get`` routes otherwise answer 405.
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


class _HeadAnswered(Exception):
    """Raised from ``send`` to stop a GET handler whose HEAD answer is complete."""


def _only_head_answered(group: BaseExceptionGroup[BaseException]) -> bool:
    return all(
        _only_head_answered(e)
        if isinstance(e, BaseExceptionGroup)
        else isinstance(e, _HeadAnswered)
        for e in group.exceptions
    )


def _declares_length(message: Message) -> bool:
    return any(name.lower() == b"content-length" for name, _ in message.get("headers", ()))


class HeadAsGetMiddleware:
    """Routes ``HEAD`` as ``GET`` and sends the status and headers only.

    A body already built in memory (a JSON answer, with its ``Content-Length``) is
    dropped. A streamed one is never produced: an answer without ``Content-Length``
    (a stream) is stopped as soon as its headers are out, one with a length (a file,
    a sized download) at its first chunk; the handler is stopped by an exception
    raised from ``send``, which this middleware swallows, so a stream's generator is
    closed there rather than drained. Must sit inside every middleware that reports
    exceptions (it does in ``create_service_app``).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return
        answered = False

        async def send_headers_only(message: Message) -> None:
            nonlocal answered
            if answered:
                raise _HeadAnswered
            kind = message["type"]
            if kind == "http.response.start":
                await send(message)
                if not _declares_length(message):
                    answered = True
                    await send({"type": "http.response.body", "body": b""})
                    raise _HeadAnswered
            elif kind == "http.response.body":
                answered = True
                await send({"type": "http.response.body", "body": b""})
                if message.get("more_body", False):
                    raise _HeadAnswered
            else:
                await send(message)

        routed = {**scope, "method": "GET"}
        try:
            await self.app(routed, receive, send_headers_only)
        except _HeadAnswered as stop:
            # Let go of the stopped frames now (a task group keeps them in a cycle), so
            # a stream's generator is closed at once rather than at the next collection.
            stop.__traceback__ = None
        except BaseExceptionGroup as group:
            if not _only_head_answered(group):
                raise
            group.__traceback__ = None
        finally:
            if "route" in routed:  # the matched route, for the metrics outside
                scope["route"] = routed["route"]


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

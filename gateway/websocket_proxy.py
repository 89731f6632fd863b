"""WebSocket proxying (``/ws/comments/{session_id}`` to the profile service).

The client's handshake is accepted only once the service has accepted the
upstream one, so a refusal upstream (403, 404, ...) reaches the client as a
refusal, in the route's dialect where the server supports the ASGI
``websocket.http.response`` extension. Messages are then relayed both ways as
they come (text stays text, bytes stay bytes) and whichever side closes first
has its close code and reason passed on to the other.
"""

from __future__ import annotations

import asyncio
import contextlib

import aiohttp
import orjson
from starlette.types import Message, Receive, Scope, Send
from yarl import URL

from gateway.counters import WEBSOCKET_CLOSES
from gateway.errors import UpstreamUnavailable
from gateway.forwarding import HeaderList
from shared.dialects import dialect_for_path, render_error
from shared.errors import QuarryError, UpstreamError, UpstreamTimeout, error_for_status
from shared.log import get_logger
from shared.request_context import current_request_id

log = get_logger("gateway.websocket")

POLICY_VIOLATION = 1008
MESSAGE_TOO_BIG = 1009
INTERNAL_ERROR = 1011
TRY_AGAIN_LATER = 1013
# Close codes a peer may not send on the wire; replaced by a normal closure.
_RESERVED = frozenset({1005, 1006, 1015})


async def refuse(
    scope: Scope,
    send: Send,
    error: QuarryError,
    extra_headers: HeaderList | None = None,
) -> int:
    """Refuse a handshake: an HTTP answer in the dialect if the server can, a close otherwise."""
    extra_headers = extra_headers or []
    if "websocket.http.response" in scope.get("extensions", {}):
        body = orjson.dumps(
            render_error(error, dialect_for_path(scope["path"]), current_request_id())
        )
        headers = [(b"content-type", b"application/json"), *extra_headers]
        headers += [(k.lower().encode(), v.encode()) for k, v in error.headers.items()]
        await send(
            {
                "type": "websocket.http.response.start",
                "status": error.status_code,
                "headers": headers,
            }
        )
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": POLICY_VIOLATION, "reason": error.message})
    return error.status_code


def _close_code(code: int | None) -> int:
    if code is None or code in _RESERVED or not (1000 <= code < 5000):
        return 1000
    return code


class WebSocketProxy:
    def __init__(
        self, session: aiohttp.ClientSession, *, connect_timeout: float, max_message_bytes: int
    ) -> None:
        self._session = session
        self._connect_timeout = connect_timeout
        self._max_message = max_message_bytes

    async def forward(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        *,
        base_url: str,
        service: str,
        headers: list[tuple[str, str]],
        query: str,
        extra_headers: HeaderList,
    ) -> int:
        """Relay one WebSocket session; returns 101 or the refusal status."""
        message = await receive()
        if message["type"] != "websocket.connect":
            return 499
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        target = base_url + raw_path.decode("latin-1") + (f"?{query}" if query else "")
        url = URL(target, encoded=True)
        subprotocols: list[str] = list(scope.get("subprotocols", []))
        try:
            upstream = await self._session.ws_connect(
                url,
                headers=headers,
                protocols=subprotocols,
                timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=5.0),
                autoclose=False,
                autoping=True,
                heartbeat=None,
                max_msg_size=self._max_message + 1,  # aiohttp refuses a message of this size
                compress=0,
            )
        except aiohttp.WSServerHandshakeError as exc:
            # The service refused the handshake: the same status, in the route's dialect.
            status = exc.status if 400 <= exc.status < 600 else 502
            return await refuse(scope, send, error_for_status(status), extra_headers)
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            log.warning("websocket_upstream_unavailable", service=service, error=repr(exc))
            return await refuse(
                scope,
                send,
                UpstreamUnavailable(f"The {service} service is unavailable"),
                extra_headers,
            )
        except (aiohttp.ServerTimeoutError, TimeoutError) as exc:
            log.warning("websocket_upstream_timeout", service=service, error=repr(exc))
            return await refuse(
                scope,
                send,
                UpstreamTimeout(f"The {service} service did not answer in time"),
                extra_headers,
            )
        except aiohttp.ClientError as exc:
            log.warning("websocket_upstream_failed", service=service, error=repr(exc))
            return await refuse(
                scope, send, UpstreamError(f"The {service} service failed to answer"), extra_headers
            )
        try:
            await send(
                {
                    "type": "websocket.accept",
                    "subprotocol": upstream.protocol,
                    "headers": extra_headers,
                }
            )
            await self._relay(upstream, receive, send)
        finally:
            if not upstream.closed:
                with contextlib.suppress(Exception):
                    await upstream.close()
        return 101

    async def _relay(
        self, upstream: aiohttp.ClientWebSocketResponse, receive: Receive, send: Send
    ) -> None:
        client_closed = asyncio.Event()
        cap = self._max_message

        async def too_big() -> None:
            """A client message over the cap: both sides closed with 1009."""
            WEBSOCKET_CLOSES.labels("message_too_big").inc()
            client_closed.set()
            reason = f"message larger than {cap} bytes"
            with contextlib.suppress(Exception):
                await send({"type": "websocket.close", "code": MESSAGE_TOO_BIG, "reason": reason})
            await upstream.close(code=MESSAGE_TOO_BIG, message=reason.encode())

        async def client_to_upstream() -> None:
            while True:
                message: Message = await receive()
                kind = message["type"]
                if kind == "websocket.receive":
                    text, data = message.get("text"), message.get("bytes")
                    if text is not None:
                        if len(text) > cap // 4 and len(text.encode()) > cap:
                            await too_big()
                            return
                        await upstream.send_str(text)
                    elif data is not None:
                        if len(data) > cap:
                            await too_big()
                            return
                        await upstream.send_bytes(data)
                elif kind == "websocket.disconnect":
                    client_closed.set()
                    code = _close_code(message.get("code"))
                    await upstream.close(
                        code=code, message=str(message.get("reason") or "").encode()
                    )
                    return

        async def upstream_to_client() -> None:
            code, reason = 1000, ""
            while True:
                msg = await upstream.receive()
                if msg.type is aiohttp.WSMsgType.TEXT:
                    await send({"type": "websocket.send", "text": msg.data})
                elif msg.type is aiohttp.WSMsgType.BINARY:
                    await send({"type": "websocket.send", "bytes": msg.data})
                elif msg.type is aiohttp.WSMsgType.CLOSE:
                    code, reason = _close_code(msg.data), str(msg.extra or "")
                    await upstream.close(code=code)
                    break
                elif msg.type is aiohttp.WSMsgType.ERROR:
                    # aiohttp refuses a message over max_msg_size with a 1009 error.
                    if getattr(msg.data, "code", None) == MESSAGE_TOO_BIG:
                        WEBSOCKET_CLOSES.labels("upstream_message_too_big").inc()
                        code, reason = MESSAGE_TOO_BIG, f"message larger than {cap} bytes"
                    else:
                        code, reason = INTERNAL_ERROR, "upstream error"
                    break
                elif msg.type in (aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED):
                    code = _close_code(upstream.close_code)
                    break
            if not client_closed.is_set():
                with contextlib.suppress(Exception):
                    await send({"type": "websocket.close", "code": code, "reason": reason})

        tasks = [
            asyncio.create_task(client_to_upstream(), name="ws-client-to-upstream"),
            asyncio.create_task(upstream_to_client(), name="ws-upstream-to-client"),
        ]
        try:
            done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
            for task in pending:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            for task in done:
                exc = task.exception()
                if exc is not None and not isinstance(exc, OSError | aiohttp.ClientError):
                    log.warning("websocket_relay_failed", error=repr(exc))
        finally:
            for task in tasks:
                task.cancel()

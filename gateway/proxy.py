"""The HTTP proxy: pooled upstream connections (:mod:`gateway.upstream`), bodies
streamed both ways.

Written at the ASGI level so that a request body flows from ``receive`` to the
service as it arrives (a 1 GiB upload never sits in the gateway's memory) and a
response flows back chunk by chunk under the server's flow control. A body
larger than the route allows is refused before anything is read when
``Content-Length`` says so, and with 413 the moment the streamed bytes cross the
limit otherwise (the upstream request is aborted, so the service never sees a
complete oversized body).

Every upstream call is bounded: connecting (``GATEWAY_UPSTREAM_CONNECT_TIMEOUT_SECONDS``),
waiting for the answer and for each later chunk (the route's read timeout). The
client's own body is bounded too (:class:`BodyPolicy`): a pause longer than the idle
timeout, or an average rate below the minimum once the grace period is over, is a
408 and the connection is closed. A service that is down answers 503, one that is too
slow 504, a broken answer 502, each in the route's dialect.

Why not a general HTTP client: measured on this machine (2 cores,
uvicorn+uvloop+httptools, wrk, 50 connections, a tiny JSON backend that serves ~31k
req/s directly), the same minimal proxy served ~300 req/s on a shared
``httpx.AsyncClient`` (encode/httpx#3215) and ~7,900 req/s on an
``aiohttp.ClientSession``; profiled under ``bench/gateway.py``, aiohttp's own request
machinery was then the largest part of the gateway's CPU per request, which
:mod:`gateway.upstream` (httptools' parser, a small pool) does without.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from starlette.types import Receive, Scope, Send

from gateway.counters import UPSTREAM_FAILURES
from gateway.errors import RequestTimeout, UpstreamUnavailable
from gateway.forwarding import HeaderList, client_response_headers
from gateway.request_headers import RequestHeaders
from gateway.upstream import (
    ConnectFailed,
    ReadTimedOut,
    UpstreamFailure,
    UpstreamPool,
    UpstreamResponse,
    encode_head,
)
from shared.error_handlers import error_response
from shared.errors import PayloadTooLarge, QuarryError, UpstreamError, UpstreamTimeout
from shared.log import get_logger

log = get_logger("gateway.proxy")

SMALL_BODY = 64 * 1024
CLOSE = (b"connection", b"close")
CHUNKED = (b"transfer-encoding", b"chunked")


class _BodyAborted(Exception):
    """Raised inside the request-body stream to abort the upstream request."""


class _ResponseCut(Exception):
    """The answer broke off after its status line reached the client."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


@dataclass(frozen=True, slots=True)
class BodyPolicy:
    """How long the gateway waits for a client's request body."""

    idle_timeout: float  # the longest pause between two chunks
    min_rate: float  # bytes per second on average, once the grace period is over (0: none)
    grace: float  # seconds before the minimum rate applies


@dataclass(slots=True)
class RequestBody:
    """The client's body as an async stream, counted against the route's limit."""

    receive: Receive
    limit: int
    policy: BodyPolicy
    received: int = 0
    too_large: bool = False
    disconnected: bool = False
    timed_out: bool = False
    too_slow: bool = False
    finished: bool = False

    async def stream(self) -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        policy = self.policy
        # Only the time spent waiting for the client counts against its rate: while the
        # service reads slowly (backpressure), the gateway is not asking for more.
        waited = 0.0
        while True:
            wait = policy.idle_timeout
            self.too_slow = False
            if policy.min_rate:
                # The waiting time by which the bytes so far would still meet the rate.
                due = policy.grace + self.received / policy.min_rate - waited
                if due < wait:
                    wait, self.too_slow = due, True
            started = loop.time()
            try:
                if wait <= 0:
                    raise TimeoutError
                async with asyncio.timeout(wait):
                    message = await self.receive()
            except TimeoutError:
                self.timed_out = True
                raise _BodyAborted("request body timed out") from None
            waited += loop.time() - started
            if message["type"] == "http.disconnect":
                self.disconnected = True
                raise _BodyAborted("client disconnected")
            chunk: bytes = message.get("body", b"")
            self.received += len(chunk)
            if self.received > self.limit:
                self.too_large = True
                raise _BodyAborted("request body too large")
            if chunk:
                yield chunk
            if not message.get("more_body", False):
                self.finished = True
                return


async def send_error(
    scope: Scope,
    receive: Receive,
    send: Send,
    error: QuarryError,
    extra: Sequence[tuple[bytes, bytes]] = (),
) -> int:
    """Answer ``error`` in the route's dialect, with ``extra`` headers; returns the status."""
    response = error_response(error, scope["path"])
    if extra:
        own = {k.lower().encode("latin-1") for k in error.headers}
        response.raw_headers.extend((n, v) for n, v in extra if n not in own)
    await response(scope, receive, send)
    return response.status_code


class HttpProxy:
    def __init__(
        self,
        pool: UpstreamPool,
        *,
        connect_timeout: float,
        read_timeout: float,
        long_read_timeout: float,
        body_policy: BodyPolicy,
    ) -> None:
        self._pool = pool
        self._body_policy = body_policy
        self._connect_timeout = connect_timeout
        self._read_timeouts = {False: read_timeout, True: long_read_timeout}

    async def forward(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        *,
        origin: tuple[str, int],
        service: str,
        request: RequestHeaders,
        headers: HeaderList,
        max_body: int,
        long_timeout: bool,
        rate_limit: HeaderList,
    ) -> int:
        """Proxy one HTTP request to the service at ``origin``; returns the status the
        client got."""
        declared = request.content_length
        if declared is not None and declared > max_body:
            UPSTREAM_FAILURES.labels(service, "too_large").inc()
            return await send_error(
                scope,
                receive,
                send,
                PayloadTooLarge(f"Request body exceeds the limit of {max_body} bytes"),
                [*rate_limit, CLOSE],
            )
        target: bytes = scope.get("raw_path") or scope["path"].encode()
        query: bytes = scope.get("query_string", b"")
        if query:
            target += b"?" + query
        method: str = scope["method"]
        body = RequestBody(receive, max_body, self._body_policy) if request.has_body else None
        chunked = body is not None and declared is None
        if chunked:  # the client's framing is hop-by-hop: this hop's is chunked too
            headers.append(CHUNKED)
        try:
            upstream = await self._pool.request(
                origin,
                encode_head(method, target, headers),
                method=method,
                body=body.stream() if body is not None else None,
                chunked=chunked,
                connect_timeout=self._connect_timeout,
                read_timeout=self._read_timeouts[long_timeout],
            )
        except UpstreamFailure as exc:
            error = self._classify(exc, body, service)
        else:
            try:
                return await self._relay_response(upstream, send, rate_limit, method)
            except _ResponseCut as cut:
                # Too late for an error response: returning unfinished makes the
                # server close the connection, so the client sees a truncated body.
                kind = "client_gone" if cut.status == 499 else "body_cut"
                UPSTREAM_FAILURES.labels(service, kind).inc()
                return cut.status
            except UpstreamFailure as exc:  # the small body failed before anything was sent
                error = self._classify(exc, body, service)
            finally:
                upstream.release()
        if error is None:  # the client went away: nobody to answer
            UPSTREAM_FAILURES.labels(service, "client_gone").inc()
            return 499
        extra = rate_limit
        if body is not None and not body.finished:
            # Refused mid-body: close the connection rather than drain the rest.
            extra = [*rate_limit, CLOSE]
        return await send_error(scope, receive, send, error, extra)

    def _classify(
        self, exc: BaseException, body: RequestBody | None, service: str
    ) -> QuarryError | None:
        if body is not None:
            if body.too_large:
                UPSTREAM_FAILURES.labels(service, "too_large").inc()
                return PayloadTooLarge(f"Request body exceeds the limit of {body.limit} bytes")
            if body.disconnected:
                return None
            if body.timed_out:
                UPSTREAM_FAILURES.labels(service, "request_timeout").inc()
                if body.too_slow:
                    return RequestTimeout("The request body arrived too slowly")
                return RequestTimeout()
        if isinstance(exc, ConnectFailed):
            log.warning("upstream_unavailable", service=service, error=repr(exc))
            UPSTREAM_FAILURES.labels(service, "unavailable").inc()
            return UpstreamUnavailable(f"The {service} service is unavailable")
        if isinstance(exc, ReadTimedOut):
            log.warning("upstream_timeout", service=service, error=repr(exc))
            UPSTREAM_FAILURES.labels(service, "timeout").inc()
            return UpstreamTimeout(f"The {service} service did not answer in time")
        log.warning("upstream_failed", service=service, error=repr(exc))
        UPSTREAM_FAILURES.labels(service, "bad_gateway").inc()
        return UpstreamError(f"The {service} service failed to answer")

    async def _relay_response(
        self,
        upstream: UpstreamResponse,
        send: Send,
        rate_limit: HeaderList,
        method: str,
    ) -> int:
        status = upstream.status
        length = upstream.content_length
        if method == "HEAD" or (length is not None and length <= SMALL_BODY):
            content = b"" if method == "HEAD" else await upstream.read()
            headers = client_response_headers(upstream.raw_headers, status, rate_limit)
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": content, "more_body": False})
            return status
        headers = client_response_headers(upstream.raw_headers, status, rate_limit)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        try:
            async for chunk in upstream.chunks():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except UpstreamFailure as exc:
            log.warning("upstream_body_failed", error=repr(exc))
            raise _ResponseCut(status) from exc
        except OSError as exc:  # the client went away mid-answer
            raise _ResponseCut(499) from exc
        return status

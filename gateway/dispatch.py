"""The request path through the gateway, as a pure ASGI app:

route table → authenticate → cross-site check → rate limit → the gateway's own
routes, or the stream proxy / WebSocket relay to the owning service.

CORS preflights never get here: :mod:`gateway.cors` answers them outside the
dispatcher (no authentication, no proxying, no rate-limit charge).

Every answer the gateway itself gives (404, 401, 403, 413, 429, 502-504) is
rendered by the shared error mechanism in the route's dialect, and carries the
request id and the ``X-RateLimit-*`` headers.
"""

from __future__ import annotations

import time
from urllib.parse import parse_qsl, urlencode

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.authentication import Authenticated, IntrospectionRefused, find_credentials
from gateway.cross_site import check_cross_site
from gateway.forwarding import (
    NO_HEADERS,
    HeaderSource,
    Peer,
    resolve_peer,
    upstream_request_headers,
)
from gateway.proxy import send_error
from gateway.route_table import AuthPolicy, BodyLimit, Owner, RateClass, Route, Timeout
from gateway.runtime import GatewayRuntime
from gateway.websocket_proxy import refuse
from shared.errors import (
    MethodNotAllowed,
    NotFound,
    QuarryError,
    RateLimited,
    ServiceUnavailable,
    Unauthorized,
)
from shared.log import get_logger
from shared.request_context import new_request_id

log = get_logger("gateway.dispatch")

MAX_PENALISED = 100_000


class GatewayDispatcher:
    """Routes every request; ``inner`` is the FastAPI app of the gateway's own routes."""

    def __init__(self, inner: ASGIApp) -> None:
        self.inner = inner
        self.runtime: GatewayRuntime | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "websocket":
            await self._websocket(scope, receive, send)
        else:  # lifespan
            await self.inner(scope, receive, send)

    # --- HTTP -----------------------------------------------------------------

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        method: str = scope["method"]
        runtime = self.runtime
        if runtime is None:
            await send_error(scope, receive, send, ServiceUnavailable("The gateway is starting"))
            return
        match = runtime.table.match(method, scope["path"])
        route = match.route
        status = 500
        runtime.stats.in_flight += 1
        try:
            if route is None:
                status = await self._unrouted(
                    runtime, scope, receive, send, match.method_not_allowed
                )
            else:
                status = await self._routed(runtime, route, scope, receive, send)
        finally:
            runtime.stats.in_flight -= 1
            template = route.template if route is not None else "unmatched"
            runtime.stats.record(method, template, status, time.perf_counter() - started)

    async def _unrouted(
        self,
        runtime: GatewayRuntime,
        scope: Scope,
        receive: Receive,
        send: Send,
        method_not_allowed: bool,
    ) -> int:
        peer = self._peer(runtime, scope)
        error: QuarryError = MethodNotAllowed() if method_not_allowed else NotFound()
        allow = ""
        if method_not_allowed:
            allow = ", ".join([*runtime.table.allowed_methods(scope["path"]), "OPTIONS"])
            error.headers["Allow"] = allow
        extra: HeaderSource = NO_HEADERS
        try:
            extra = await self._limit(runtime, RateClass.API, None, peer)
        except QuarryError as exc:
            return await send_error(scope, receive, send, exc, extra)
        if method_not_allowed and scope["method"] == "OPTIONS":
            # A plain OPTIONS (CORS preflights never get here): which methods the path takes.
            headers = [(b"allow", allow.encode()), *await extra.resolve()]
            await send({"type": "http.response.start", "status": 204, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return 204
        return await send_error(scope, receive, send, error, extra)

    async def _routed(
        self, runtime: GatewayRuntime, route: Route, scope: Scope, receive: Receive, send: Send
    ) -> int:
        peer = self._peer(runtime, scope)
        extra: HeaderSource = NO_HEADERS
        try:
            auth = await self._authenticate(runtime, route, scope, peer)
            extra = await self._limit(runtime, route.rate, auth, peer)
            if auth is not None and auth.via_cookie:
                check_cross_site(
                    scope["method"],
                    scope["headers"],
                    peer.host,
                    trusted_origins=runtime.settings.cors_origins,
                )
        except QuarryError as exc:
            return await send_error(scope, receive, send, exc, extra)
        if route.owner is Owner.GATEWAY:
            return await self._own_route(scope, receive, send, auth, extra)
        settings = runtime.settings
        headers = upstream_request_headers(
            scope["headers"],
            peer=peer,
            request_id=self._request_id(scope),
            bearer=auth.access_token if auth is not None else None,
            proof=runtime.proof_header,
        )
        return await runtime.http_proxy.forward(
            scope,
            receive,
            send,
            base_url=settings.service_urls[route.owner.value],
            service=route.owner.value,
            headers=headers,
            max_body=(
                settings.max_upload_bytes
                if route.body is BodyLimit.UPLOAD
                else settings.max_body_bytes
            ),
            read_timeout=(
                settings.upstream_long_timeout_seconds
                if route.timeout is Timeout.LONG
                else settings.upstream_timeout_seconds
            ),
            extra_headers=extra,
        )

    async def _own_route(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        auth: Authenticated | None,
        extra: HeaderSource,
    ) -> int:
        state = scope.setdefault("state", {})
        if auth is not None:
            state["principal"] = auth.principal
            state["access_token"] = auth.access_token
        status = 500

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), *await extra.resolve()]
            await send(message)

        await self.inner(scope, receive, send_with_headers)
        return status

    # --- WebSocket --------------------------------------------------------------

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        runtime = self.runtime
        if runtime is None:
            await refuse(scope, send, ServiceUnavailable("The gateway is starting"))
            return
        route = runtime.table.match("GET", scope["path"], websocket=True).route
        if route is None:
            await refuse(scope, send, NotFound())
            return
        peer = self._peer(runtime, scope)
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        query_key = next((v for k, v in query if k == "api_key"), None)
        upstream_query = urlencode([(k, v) for k, v in query if k != "api_key"])
        extra: HeaderSource = NO_HEADERS
        try:
            auth = await self._authenticate(runtime, route, scope, peer, query_api_key=query_key)
            extra = await self._limit(runtime, route.rate, auth, peer)
            if auth is not None and auth.via_cookie:
                # Cross-site WebSocket hijacking: a cookie handshake must come from this
                # origin or a trusted one; ?api_key= and tokens are not ambient, any origin.
                check_cross_site(
                    "GET",
                    scope["headers"],
                    peer.host,
                    websocket=True,
                    trusted_origins=runtime.settings.cors_origins,
                )
        except QuarryError as exc:
            await refuse(scope, send, exc, extra)
            return
        session_id = scope["path"].rstrip("/").rsplit("/", 1)[-1]
        headers = upstream_request_headers(
            scope["headers"],
            peer=peer,
            request_id=self._request_id(scope),
            bearer=auth.access_token if auth is not None else None,
            proof=runtime.proof_header,
            websocket=True,
        )
        runtime.websockets[session_id] += 1
        try:
            await runtime.websocket_proxy.forward(
                scope,
                receive,
                send,
                base_url=runtime.settings.service_urls[route.owner.value],
                service=route.owner.value,
                headers=headers,
                query=upstream_query,
                extra_headers=extra,
            )
        finally:
            runtime.websockets[session_id] -= 1
            if runtime.websockets[session_id] <= 0:
                del runtime.websockets[session_id]

    # --- steps ------------------------------------------------------------------

    @staticmethod
    def _request_id(scope: Scope) -> str:
        request_id = scope.get("state", {}).get("request_id")
        return request_id if isinstance(request_id, str) else new_request_id()

    @staticmethod
    def _peer(runtime: GatewayRuntime, scope: Scope) -> Peer:
        return resolve_peer(
            scope.get("client"), scope["scheme"], scope["headers"], runtime.settings.trusted_proxies
        )

    async def _authenticate(
        self,
        runtime: GatewayRuntime,
        route: Route,
        scope: Scope,
        peer: Peer,
        *,
        query_api_key: str | None = None,
    ) -> Authenticated | None:
        if route.auth is AuthPolicy.PUBLIC:
            return None
        authorization = api_key = cookie = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode("latin-1")
            elif name == b"x-api-key":
                api_key = value.decode("latin-1")
            elif name == b"cookie":
                text = value.decode("latin-1")
                cookie = text if cookie is None else f"{cookie}; {text}"
        credentials = find_credentials(authorization, api_key, cookie, query_api_key)
        required = route.auth is AuthPolicy.REQUIRED
        if not credentials and not required:
            return None
        authenticator = runtime.authenticator
        penalty = runtime.penalised.get(peer.client_ip)
        if penalty is not None and penalty <= time.monotonic():
            del runtime.penalised[peer.client_ip]
            penalty = None
        try:
            return await authenticator.authenticate(
                credentials, required=required, allow_introspection=penalty is None
            )
        except Unauthorized as exc:
            await self._count_failure(runtime, route, peer, exc)
            raise
        except IntrospectionRefused:
            raise RateLimited(max((penalty or 0.0) - time.monotonic(), 1.0)) from None

    async def _count_failure(
        self, runtime: GatewayRuntime, route: Route, peer: Peer, error: Unauthorized
    ) -> None:
        """A rejected credential counts against the address; past the limit, 429 instead."""
        if not runtime.limiter.enabled:
            return
        try:
            decision = await runtime.limiter.check(route.rate, f"ip:{peer.client_ip}")
        except RateLimited as limited:
            penalised = runtime.penalised
            if len(penalised) >= MAX_PENALISED:
                now = time.monotonic()
                for address in [a for a, until in penalised.items() if until <= now]:
                    del penalised[address]
            if len(penalised) < MAX_PENALISED:
                penalised[peer.client_ip] = time.monotonic() + limited.retry_after
            raise
        except ServiceUnavailable:
            return
        error.headers.update(await decision.as_dict())

    async def _limit(
        self, runtime: GatewayRuntime, rate: RateClass, auth: Authenticated | None, peer: Peer
    ) -> HeaderSource:
        limiter = runtime.limiter
        if not limiter.enabled:
            return NO_HEADERS
        if auth is not None:
            key = f"user:{auth.principal.user_id}"
            client = f"client:{auth.principal.client_id}" if auth.principal.client_id else None
        else:
            key, client = f"ip:{peer.client_ip}", None
        return await limiter.check(rate, key, client)

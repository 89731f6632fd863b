"""The request path through the gateway, as a pure ASGI app:

route table → headers read once (:mod:`gateway.request_headers`) → authenticate →
cross-site check → rate limit (one Redis call) → the gateway's own routes, or the
stream proxy / WebSocket relay to the owning service.

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
from gateway.forwarding import HeaderList, Peer, as_text, resolve_peer, upstream_request_headers
from gateway.proxy import send_error
from gateway.rate_limit import as_dict
from gateway.request_headers import RequestHeaders, read_headers
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
NO_HEADERS: HeaderList = []


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
            headers = read_headers(scope["headers"])
            if route is None:
                status = await self._unrouted(
                    runtime, scope, receive, send, headers, match.method_not_allowed
                )
            else:
                status = await self._routed(runtime, route, scope, receive, send, headers)
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
        headers: RequestHeaders,
        method_not_allowed: bool,
    ) -> int:
        peer = self._peer(runtime, scope, headers)
        error: QuarryError = MethodNotAllowed() if method_not_allowed else NotFound()
        allow = ""
        if method_not_allowed:
            allow = ", ".join([*runtime.table.allowed_methods(scope["path"]), "OPTIONS"])
            error.headers["Allow"] = allow
        extra = NO_HEADERS
        try:
            extra = await self._limit(runtime, RateClass.API, None, peer)
        except QuarryError as exc:
            return await send_error(scope, receive, send, exc)
        if method_not_allowed and scope["method"] == "OPTIONS":
            # A plain OPTIONS (CORS preflights never get here): which methods the path takes.
            answer = [(b"allow", allow.encode()), *extra]
            await send({"type": "http.response.start", "status": 204, "headers": answer})
            await send({"type": "http.response.body", "body": b""})
            return 204
        return await send_error(scope, receive, send, error, extra)

    async def _routed(
        self,
        runtime: GatewayRuntime,
        route: Route,
        scope: Scope,
        receive: Receive,
        send: Send,
        headers: RequestHeaders,
    ) -> int:
        peer = self._peer(runtime, scope, headers)
        extra = NO_HEADERS
        try:
            auth = await self._authenticate(runtime, route, headers, peer)
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
        origin = runtime.service_origins[route.owner]
        return await runtime.http_proxy.forward(
            scope,
            receive,
            send,
            origin=origin,
            service=route.owner.value,
            request=headers,
            headers=self._upstream_headers(runtime, route, scope, headers, peer, auth),
            max_body=(
                settings.max_upload_bytes
                if route.body is BodyLimit.UPLOAD
                else settings.max_body_bytes
            ),
            long_timeout=route.timeout is Timeout.LONG,
            rate_limit=extra,
        )

    async def _own_route(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        auth: Authenticated | None,
        extra: HeaderList,
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
                message["headers"] = [*message.get("headers", []), *extra]
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
        headers = read_headers(scope["headers"], websocket=True)
        peer = self._peer(runtime, scope, headers)
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        query_key = next((v for k, v in query if k == "api_key"), None)
        upstream_query = urlencode([(k, v) for k, v in query if k != "api_key"])
        extra = NO_HEADERS
        try:
            auth = await self._authenticate(runtime, route, headers, peer, query_api_key=query_key)
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
        runtime.websockets[session_id] += 1
        try:
            await runtime.websocket_proxy.forward(
                scope,
                receive,
                send,
                base_url=runtime.service_urls[route.owner],
                service=route.owner.value,
                headers=as_text(self._upstream_headers(runtime, route, scope, headers, peer, auth)),
                query=upstream_query,
                extra_headers=extra,
            )
        finally:
            runtime.websockets[session_id] -= 1
            if runtime.websockets[session_id] <= 0:
                del runtime.websockets[session_id]

    # --- steps ------------------------------------------------------------------

    def _upstream_headers(
        self,
        runtime: GatewayRuntime,
        route: Route,
        scope: Scope,
        headers: RequestHeaders,
        peer: Peer,
        auth: Authenticated | None,
    ) -> HeaderList:
        """What the owning service receives: the client's headers, cleaned, with the
        peer, the request id, the caller's identity and the gateway's proof."""
        return upstream_request_headers(
            headers,
            peer=peer,
            request_id=self._request_id(scope),
            bearer=auth.access_token if auth is not None else None,
            proof=runtime.proof_header_raw,
            origin_host=runtime.service_hosts[route.owner],
        )

    @staticmethod
    def _request_id(scope: Scope) -> str:
        request_id = scope.get("state", {}).get("request_id")
        return request_id if isinstance(request_id, str) else new_request_id()

    @staticmethod
    def _peer(runtime: GatewayRuntime, scope: Scope, headers: RequestHeaders) -> Peer:
        return resolve_peer(
            scope.get("client"), scope["scheme"], headers, runtime.settings.trusted_proxies
        )

    async def _authenticate(
        self,
        runtime: GatewayRuntime,
        route: Route,
        headers: RequestHeaders,
        peer: Peer,
        *,
        query_api_key: str | None = None,
    ) -> Authenticated | None:
        if route.auth is AuthPolicy.PUBLIC:
            return None
        credentials = find_credentials(
            headers.authorization, headers.api_key, headers.cookie, query_api_key
        )
        required = route.auth is AuthPolicy.REQUIRED
        if not credentials and not required:
            return None
        penalty = runtime.penalties.remaining(peer.client_ip)
        try:
            return await runtime.authenticator.authenticate(
                credentials, required=required, allow_introspection=penalty is None
            )
        except Unauthorized as exc:
            await self._count_failure(runtime, route, peer, exc)
            raise
        except IntrospectionRefused:
            raise RateLimited(max(penalty or 0.0, 1.0)) from None

    async def _count_failure(
        self, runtime: GatewayRuntime, route: Route, peer: Peer, error: Unauthorized
    ) -> None:
        """A rejected credential counts against the address; past the limit, 429 instead."""
        if not runtime.limiter.enabled:
            return
        try:
            headers = await runtime.limiter.check(route.rate, f"ip:{peer.client_ip}")
        except RateLimited as limited:
            runtime.penalties.penalise(peer.client_ip, limited.retry_after)
            raise
        except ServiceUnavailable:
            return
        error.headers.update(as_dict(headers))

    async def _limit(
        self, runtime: GatewayRuntime, rate: RateClass, auth: Authenticated | None, peer: Peer
    ) -> HeaderList:
        limiter = runtime.limiter
        if not limiter.enabled:
            return NO_HEADERS
        if auth is not None:
            principal = auth.principal
            client = f"client:{principal.client_id}" if principal.client_id else None
            return await limiter.check(rate, f"user:{principal.user_id}", client)
        return await limiter.check(rate, f"ip:{peer.client_ip}")

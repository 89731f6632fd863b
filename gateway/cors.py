"""Cross-origin resource sharing: which browser origins may call the gateway.

The operator lists the origins it trusts (``GATEWAY_CORS_ORIGINS``, exact
``scheme://host[:port]``); nothing else is ever reflected, ``*`` is refused, and
only listed origins get ``Access-Control-Allow-Credentials`` (cookies). With the
list empty no origin gets CORS headers and same-origin pages work as before.

The middleware wraps the whole gateway (inside the request-id layer), so every
answer, the gateway's own 401/403/429/5xx included, carries the CORS headers a
browser needs to read it. A preflight (``OPTIONS`` with ``Origin`` and
``Access-Control-Request-Method``) is answered here: never authenticated, never
proxied, and not counted against the route's rate limit (the browser sends it on
its own before each uncached call; charging it would halve the budget the specs
promise, and a 429 on a preflight reaches the page as an unreadable network error).
It costs no Redis call and no upstream request, and ``Access-Control-Max-Age``
lets browsers cache it. A refused preflight is a 403 in the route's dialect with no
CORS header (beyond ``Vary``) for an unlisted origin.

Services are not the CORS authority: any ``Access-Control-*`` header a service
sends is dropped, so a service cannot widen the policy.
"""

from __future__ import annotations

from collections.abc import Collection
from urllib.parse import urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.error_handlers import error_response
from shared.errors import Forbidden

DEFAULT_PORTS = {"http": 80, "https": 443}
VARY_ORIGIN = (b"vary", b"Origin")


class CorsRefused(Forbidden):
    code = "cors_refused"
    default_message = "Cross-origin request refused"


def normalize_origin(value: str) -> str:
    """``value`` as browsers serialise an origin (lower case, default port dropped).

    Raises :class:`ValueError` for anything that is not one exact http(s) origin:
    wildcards, ``null``, paths, queries, credentials.
    """
    text = value.strip()
    if text in ("*", "null") or "*" in text:
        raise ValueError(f"CORS origin {value!r}: wildcards and 'null' are not allowed")
    if text.endswith("/") and text.count("/") == 3:
        text = text[:-1]  # "https://app.example/" is a common way of writing the origin
    parts = urlsplit(text)
    if (
        parts.scheme.lower() not in DEFAULT_PORTS
        or not parts.hostname
        or parts.path
        or parts.query
        or parts.fragment
        or "@" in parts.netloc
    ):
        raise ValueError(f"CORS origin {value!r} is not 'http(s)://host[:port]'")
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"CORS origin {value!r} has an invalid port") from exc
    host = parts.hostname.lower()
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    if port is None or port == DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def _without_cors_headers(message: Message) -> None:
    headers = message.get("headers", [])
    if any(name.lower().startswith(b"access-control-") for name, _ in headers):
        headers = [(n, v) for n, v in headers if not n.lower().startswith(b"access-control-")]
    message["headers"] = list(headers)


class GatewayCORSMiddleware(CORSMiddleware):
    """Starlette's CORS middleware, strict: listed origins only, always with credentials,
    no CORS header at all for other origins, refusals in the route's dialect."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        origins: Collection[str],
        methods: Collection[str],
        headers: Collection[str],
        expose_headers: Collection[str],
        max_age: int,
    ) -> None:
        if any("*" in item for group in (origins, methods, headers) for item in group):
            raise ValueError("the gateway's CORS policy takes no wildcard")
        super().__init__(
            app,
            allow_origins=frozenset(origins),
            allow_methods=tuple(methods),
            allow_headers=tuple(headers),
            allow_credentials=True,
            expose_headers=tuple(expose_headers),
            max_age=max_age,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if not any(name == b"origin" for name, _ in scope["headers"]):
            # No Origin (curl, SDKs, services): no CORS header to give, only Vary, and
            # whatever Access-Control-* a service sent dropped.
            async def send_without_cors(message: Message) -> None:
                if message["type"] == "http.response.start":
                    _without_cors_headers(message)
                    message["headers"].append(VARY_ORIGIN)
                await send(message)

            await self.app(scope, receive, send_without_cors)
            return
        if scope["method"] == "OPTIONS":
            request_headers = Headers(scope=scope)
            if "access-control-request-method" in request_headers:
                await self._preflight(scope, receive, send, request_headers)
                return
        await super().__call__(scope, receive, send)

    async def _preflight(
        self, scope: Scope, receive: Receive, send: Send, request_headers: Headers
    ) -> None:
        answer = self.preflight_response(request_headers=request_headers)
        if answer.status_code == 200:
            await answer(scope, receive, send)
            return
        reason = bytes(answer.body).decode("utf-8", "replace")
        refusal = error_response(CorsRefused(reason), scope["path"])
        if self.is_allowed_origin(request_headers["origin"]):
            # A listed origin asking for a method or header that is not allowed: the
            # allowed lists stay visible to the developer tools.
            for name, value in answer.headers.items():
                if name.startswith("access-control-"):
                    refusal.headers[name] = value
        refusal.headers["Vary"] = answer.headers["vary"]
        await refusal(scope, receive, send)

    async def send(self, message: Message, send: Send, request_headers: Headers) -> None:
        if message["type"] != "http.response.start":
            await send(message)
            return
        _without_cors_headers(message)
        origin = request_headers.get("origin")
        if origin is not None and self.is_allowed_origin(origin):
            await super().send(message, send, request_headers)
            return
        # Starlette would add Allow-Credentials and Expose-Headers for any Origin: not here.
        headers = MutableHeaders(scope=message)
        headers["Vary"] = ", ".join([*headers.getlist("Vary"), "Origin"])
        await send(message)

"""Proof that a request came through the gateway, checked by every service.

The gateway adds ``X-Quarry-Gateway: <proof>`` to every request it forwards; a
service answers its public routes only when the header carries this deployment's
proof. The proof is derived from ``QUARRY_INTERNAL_TOKEN`` (an HMAC of a fixed
label), so no new secret has to be distributed and the internal token itself never
travels with client traffic: whoever reads a forwarded request learns a value that
opens public routes (what the gateway opens anyway, minus its limits), never the
``/internal/...`` ones.

:class:`GatewayProofMiddleware`, installed by :func:`shared.service_app.create_service_app`:

- ``/health`` and ``/metrics`` stay open (probes, Prometheus);
- ``/internal/...`` keep their own guard (``X-Internal-Token``), ``/webhooks/...``
  theirs (the HMAC signature of :mod:`shared.webhooks`);
- everything else, ``/openapi.json`` and WebSocket handshakes included, is refused
  with 403 without the proof;
- forwarding headers (``X-Forwarded-For``/``-Proto``/``-Host``/``-Port``,
  ``X-Real-IP``, ``Forwarded``) are removed from requests without the proof, so
  code that reads them only ever sees the gateway's;
- the proof header itself is removed before the app sees it, and
  ``scope["state"]["via_gateway"]`` says whether it was there (:func:`via_gateway`).

Clients cannot send the header through the gateway: it drops every ``X-Quarry-*``
header a client sends (:mod:`gateway.forwarding`).
"""

from __future__ import annotations

import hashlib
import hmac

from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from shared.error_handlers import error_response, refuse_websocket
from shared.errors import Forbidden

GATEWAY_PROOF_HEADER = "X-Quarry-Gateway"
_PROOF_NAME = GATEWAY_PROOF_HEADER.lower().encode()
_LABEL = b"quarry/gateway-proof/v1"

OPEN_PATHS = frozenset({"/health", "/metrics"})
SELF_GUARDED_PREFIXES = ("/internal/", "/webhooks/")
FORWARDING_HEADERS = frozenset(
    {
        b"x-forwarded-for",
        b"x-forwarded-proto",
        b"x-forwarded-host",
        b"x-forwarded-port",
        b"x-real-ip",
        b"forwarded",
    }
)
REFUSAL = "This service answers only requests forwarded by the gateway"


def gateway_proof(internal_token: str) -> str:
    """This deployment's proof (hex), derived from the internal token."""
    return hmac.new(internal_token.encode(), _LABEL, hashlib.sha256).hexdigest()


def proof_headers(internal_token: str) -> dict[str, str]:
    """The header a caller adds to be taken for the gateway (the gateway, and tests)."""
    return {GATEWAY_PROOF_HEADER: gateway_proof(internal_token)}


def via_gateway(connection: HTTPConnection) -> bool:
    """Whether the request carried this deployment's gateway proof."""
    return bool(connection.scope.get("state", {}).get("via_gateway"))


class GatewayProofMiddleware:
    def __init__(self, app: ASGIApp, *, internal_token: str) -> None:
        self.app = app
        self._proof = gateway_proof(internal_token).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        proven = False
        strip = False
        for name, value in scope["headers"]:
            if name == _PROOF_NAME:
                proven = hmac.compare_digest(bytes(value), self._proof)
                strip = True
            elif name in FORWARDING_HEADERS:
                strip = True
        if strip:
            drop = {_PROOF_NAME} if proven else {_PROOF_NAME, *FORWARDING_HEADERS}
            # In place: outer middlewares read what the router writes into this scope.
            scope["headers"] = [(n, v) for n, v in scope["headers"] if n not in drop]
        scope.setdefault("state", {})["via_gateway"] = proven
        path: str = scope["path"]
        if proven or path in OPEN_PATHS or path.startswith(SELF_GUARDED_PREFIXES):
            await self.app(scope, receive, send)
            return
        await _refuse(scope, receive, send)


async def _refuse(scope: Scope, receive: Receive, send: Send) -> None:
    error = Forbidden(REFUSAL)
    if scope["type"] == "http":
        await error_response(error, scope["path"])(scope, receive, send)
    else:
        await refuse_websocket(scope, receive, send, error)

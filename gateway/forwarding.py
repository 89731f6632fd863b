"""What the gateway tells a service about a request, and what it keeps from the answer.

Request: the client's headers minus hop-by-hop ones and minus every identity
header the gateway did not verify itself (``Authorization`` is replaced by the
verified or minted token, ``X-API-Key`` and the internal token never pass),
plus ``X-Request-ID`` and ``X-Forwarded-For`` / ``-Proto`` / ``-Host`` computed
from the real peer. ``X-Forwarded-*`` from the client are believed only when
the peer is a trusted proxy (``GATEWAY_TRUSTED_PROXIES``); the services receive
a single resolved address, so they need to trust only the gateway.

Response: the service's headers minus hop-by-hop ones (``Set-Cookie`` and the
rest pass intact, duplicates included).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from shared.net import client_ip, is_trusted_proxy

HeaderList = list[tuple[bytes, bytes]]


class HeaderSource(Protocol):
    """Headers the gateway adds to an answer, known by the time the answer starts."""

    async def resolve(self) -> HeaderList: ...


class StaticHeaders:
    def __init__(self, headers: HeaderList | None = None) -> None:
        self._headers = headers or []

    async def resolve(self) -> HeaderList:
        return self._headers


NO_HEADERS = StaticHeaders()

HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)
# Headers that claim an identity or a network position: only the gateway sets them.
UNTRUSTED_IDENTITY = frozenset(
    {
        b"authorization",
        b"x-api-key",
        b"x-internal-token",
        b"x-user-id",
        b"x-user",
        b"x-username",
        b"x-user-role",
        b"x-client-id",
        b"x-principal",
        b"x-remote-user",
        b"x-forwarded-user",
        b"x-authenticated-user",
        b"x-auth-user",
        b"remote-user",
        b"x-real-ip",
        b"forwarded",
        b"x-forwarded-for",
        b"x-forwarded-proto",
        b"x-forwarded-host",
        b"x-forwarded-port",
        b"x-request-id",
    }
)
WEBSOCKET_HANDSHAKE = frozenset(
    {
        b"sec-websocket-key",
        b"sec-websocket-version",
        b"sec-websocket-extensions",
        b"sec-websocket-protocol",
        b"sec-websocket-accept",
    }
)
# Set by the gateway's own server on every response.
RESPONSE_OWN = frozenset({b"server", b"date"})
RATE_LIMIT_HEADERS = frozenset(
    {b"x-ratelimit-limit", b"x-ratelimit-remaining", b"x-ratelimit-reset"}
)


def _connection_tokens(headers: Iterable[tuple[bytes, bytes]]) -> set[bytes]:
    tokens: set[bytes] = set()
    for name, value in headers:
        if name.lower() == b"connection":
            tokens.update(t.strip().lower() for t in value.split(b",") if t.strip())
    return tokens


@dataclass(frozen=True, slots=True)
class Peer:
    """Where a request came from, as far as the gateway can believe it."""

    client_ip: str
    proto: str
    host: str


def resolve_peer(
    scope_client: Sequence[object] | None,
    scheme: str,
    headers: Sequence[tuple[bytes, bytes]],
    trusted_proxies: Sequence[str],
) -> Peer:
    """Client address, scheme and host; ``X-Forwarded-*`` believed only from trusted proxies."""
    peer_ip = str(scope_client[0]) if scope_client else "unknown"
    xff = proto = fwd_host = host = None
    for name, value in headers:
        if name == b"x-forwarded-for":
            decoded = value.decode("latin-1")
            xff = decoded if xff is None else f"{xff}, {decoded}"
        elif name == b"x-forwarded-proto":
            proto = value.decode("latin-1")
        elif name == b"x-forwarded-host":
            fwd_host = value.decode("latin-1")
        elif name == b"host":
            host = value.decode("latin-1")
    scheme = "https" if scheme in ("https", "wss") else "http"
    if not trusted_proxies or not is_trusted_proxy(peer_ip, trusted_proxies):
        return Peer(peer_ip, scheme, host or "")
    ip = client_ip(peer_ip, xff, trusted_proxies) or peer_ip
    real_proto = proto.split(",")[0].strip().lower() if proto else scheme
    if real_proto not in ("http", "https"):
        real_proto = scheme
    real_host = fwd_host.split(",")[0].strip() if fwd_host else (host or "")
    return Peer(ip, real_proto, real_host)


def upstream_request_headers(
    headers: Sequence[tuple[bytes, bytes]],
    *,
    peer: Peer,
    request_id: str,
    bearer: str | None,
    proof: tuple[str, str],
    websocket: bool = False,
) -> list[tuple[str, str]]:
    """The headers to send upstream (names as ``str``, for the HTTP client)."""
    drop = HOP_BY_HOP | UNTRUSTED_IDENTITY | _connection_tokens(headers)
    if websocket:
        drop = drop | WEBSOCKET_HANDSHAKE
    out: list[tuple[str, str]] = [
        (name.decode("latin-1"), value.decode("latin-1"))
        for name, value in headers
        if name.lower() not in drop and not name.lower().startswith(b"x-quarry-")
    ]
    out.append(proof)
    out.append(("X-Request-ID", request_id))
    out.append(("X-Forwarded-For", peer.client_ip))
    out.append(("X-Real-IP", peer.client_ip))
    out.append(("X-Forwarded-Proto", peer.proto))
    if peer.host:
        out.append(("X-Forwarded-Host", peer.host))
    if bearer is not None:
        out.append(("Authorization", f"Bearer {bearer}"))
    return out


def client_response_headers(
    raw: Iterable[tuple[bytes, bytes]], extra: Sequence[tuple[bytes, bytes]] = ()
) -> HeaderList:
    """The upstream's response headers for the client (lower-case names), plus ``extra``."""
    raw = list(raw)
    drop = HOP_BY_HOP | RESPONSE_OWN | _connection_tokens(raw)
    if extra:
        drop = drop | {name for name, _ in extra}
    out: HeaderList = [(name.lower(), value) for name, value in raw if name.lower() not in drop]
    out.extend(extra)
    return out

"""What the gateway tells a service about a request, and what it keeps from the answer.

Request: the client's headers a service may see (:mod:`gateway.request_headers`), plus
the gateway's proof (:mod:`shared.proof`), ``X-Request-ID``, ``X-Forwarded-For`` /
``X-Real-IP`` / ``-Proto`` / ``-Host`` computed from the real peer, and
``Authorization: Bearer`` with the verified or minted token. ``X-Forwarded-*`` from
the client are believed only when the peer is a trusted proxy
(``GATEWAY_TRUSTED_PROXIES``); the services receive a single resolved address.

Response: the service's headers minus hop-by-hop ones and those the gateway's server
sets itself (``Set-Cookie`` and the rest pass intact, duplicates included), plus the
gateway's ``X-RateLimit-*``, except on a service's own 429: a service that refuses with
its own limit (auth's login throttle) speaks for it, headers matching its body.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from gateway.request_headers import HOP_BY_HOP, RequestHeaders
from shared.net import client_ip, is_trusted_proxy

HeaderList = list[tuple[bytes, bytes]]

# Set by the gateway's own server, or by the gateway, on every response.
RESPONSE_OWN = frozenset({b"server", b"date", b"x-request-id"})
RATE_LIMIT_HEADERS = frozenset(
    {b"x-ratelimit-limit", b"x-ratelimit-remaining", b"x-ratelimit-reset"}
)
RESPONSE_DROPPED = HOP_BY_HOP | RESPONSE_OWN
RESPONSE_DROPPED_WITH_LIMITS = RESPONSE_DROPPED | RATE_LIMIT_HEADERS


@dataclass(frozen=True, slots=True)
class Peer:
    """Where a request came from, as far as the gateway can believe it."""

    client_ip: str
    proto: str
    host: str


def resolve_peer(
    scope_client: Sequence[object] | None,
    scheme: str,
    headers: RequestHeaders,
    trusted_proxies: Sequence[str],
) -> Peer:
    """Client address, scheme and host; ``X-Forwarded-*`` believed only from trusted proxies."""
    peer_ip = str(scope_client[0]) if scope_client else "unknown"
    scheme = "https" if scheme in ("https", "wss") else "http"
    if not trusted_proxies or not is_trusted_proxy(peer_ip, trusted_proxies):
        return Peer(peer_ip, scheme, headers.host)
    ip = client_ip(peer_ip, headers.forwarded_for, trusted_proxies) or peer_ip
    proto = headers.forwarded_proto
    real_proto = proto.split(",")[0].strip().lower() if proto else scheme
    if real_proto not in ("http", "https"):
        real_proto = scheme
    fwd_host = headers.forwarded_host
    real_host = fwd_host.split(",")[0].strip() if fwd_host else headers.host
    return Peer(ip, real_proto, real_host)


def upstream_request_headers(
    headers: RequestHeaders,
    *,
    peer: Peer,
    request_id: str,
    bearer: str | None,
    proof: tuple[bytes, bytes],
    origin_host: bytes,
) -> HeaderList:
    """The headers to send upstream, as they go on the wire. ``origin_host`` is the
    service's address, the ``Host`` of a request that came without one."""
    client = peer.client_ip.encode("latin-1")
    out = [
        *headers.forward,
        proof,
        (b"x-request-id", request_id.encode("latin-1")),
        (b"x-forwarded-for", client),
        (b"x-real-ip", client),
        (b"x-forwarded-proto", peer.proto.encode("latin-1")),
    ]
    if peer.host:
        out.append((b"x-forwarded-host", peer.host.encode("latin-1")))
    if not headers.host:  # HTTP/1.0 without Host: the service's own
        out.append((b"host", origin_host))
    if bearer is not None:
        out.append((b"authorization", b"Bearer " + bearer.encode("latin-1")))
    return out


def as_text(headers: HeaderList) -> list[tuple[str, str]]:
    """``headers`` with ``str`` names and values (for aiohttp's WebSocket client)."""
    return [(n.decode("latin-1"), v.decode("latin-1")) for n, v in headers]


def client_response_headers(
    raw: Iterable[tuple[bytes, bytes]], status: int, rate_limit: Sequence[tuple[bytes, bytes]]
) -> HeaderList:
    """The service's answer headers for the client (lower-case names), with the gateway's
    ``rate_limit`` headers unless the service refused with its own 429."""
    if status == 429:
        return _kept(raw, RESPONSE_DROPPED)
    out = _kept(raw, RESPONSE_DROPPED_WITH_LIMITS)
    out.extend(rate_limit)
    return out


def _kept(raw: Iterable[tuple[bytes, bytes]], dropped: frozenset[bytes]) -> HeaderList:
    out: HeaderList = []
    hop_tokens: set[bytes] | None = None
    for name, value in raw:
        lower = name.lower()
        if lower in dropped:
            if lower == b"connection":
                hop_tokens = {t.strip().lower() for t in value.split(b",")}
            continue
        out.append((lower, value))
    if hop_tokens:
        out = [(n, v) for n, v in out if n not in hop_tokens]
    return out

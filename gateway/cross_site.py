"""Cross-site request protection for cookie-authenticated requests.

A browser attaches the session cookie to requests that another site triggers; a
SameSite=Lax cookie already stays home on cross-site POSTs from forms, and this
check closes what remains (older browsers, same-site-but-cross-origin pages,
WebSocket handshakes, which SameSite does not cover). An unsafe request (or a
WebSocket handshake) authenticated by cookie is refused with 403 when its
``Origin`` is not the gateway's own origin or its ``Sec-Fetch-Site`` says
``cross-site``. curl and SDKs send neither header, so the specs' examples pass.

An ``Origin`` the operator trusts (``GATEWAY_CORS_ORIGINS``, the CORS allowlist)
counts as the gateway's own: its requests pass even when ``Sec-Fetch-Site`` says
``cross-site`` (a web app served from another site). The comparison is exact, as
browsers serialise origins; ``null`` is never trusted.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from urllib.parse import urlsplit

from shared.errors import Forbidden

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class CrossSiteRequest(Forbidden):
    code = "cross_site_request"
    default_message = "Cross-site request refused"


def _origin_host(origin: str) -> str | None:
    if origin == "null":
        return None
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return parts.netloc.lower()


def check_cross_site(
    method: str,
    headers: Sequence[tuple[bytes, bytes]],
    host: str,
    *,
    websocket: bool = False,
    trusted_origins: Collection[str] = (),
) -> None:
    """Raise :class:`CrossSiteRequest` for a cross-site unsafe cookie-authenticated request.

    ``host`` is the host (and port) the client addressed, as the gateway resolved it;
    ``trusted_origins`` are the allowlisted origins (normalised, as in the settings).
    """
    if not websocket and method in SAFE_METHODS:
        return
    origin = fetch_site = None
    for name, value in headers:
        if name == b"origin":
            origin = value.decode("latin-1").strip()
        elif name == b"sec-fetch-site":
            fetch_site = value.decode("latin-1").strip().lower()
    if origin is not None and origin in trusted_origins:
        return
    if fetch_site == "cross-site":
        raise CrossSiteRequest("Cross-site request refused (Sec-Fetch-Site)")
    if origin is not None and _origin_host(origin) != host.lower():
        raise CrossSiteRequest("Cross-site request refused (Origin does not match the host)")

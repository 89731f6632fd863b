"""The session cookies: HttpOnly, SameSite=Lax, Path=/, Secure when served over TLS."""

from __future__ import annotations

import ipaddress

from fastapi import Request, Response

from services.auth.settings import AuthSettings
from shared.net import parse_networks

SKYPE_COOKIE = "session"  # spec/skype-parser-api.md
FILES_COOKIE = "session_id"  # spec/file-processing-api.md (also set by the Profile login)


def _from_trusted_proxy(request: Request, settings: AuthSettings) -> bool:
    peer = request.client.host if request.client else None
    if peer is None:
        return False
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    return any(address in net for net in parse_networks(tuple(settings.trusted_proxies)))


def served_over_https(request: Request, settings: AuthSettings) -> bool:
    """TLS as the client saw it: our own scheme, or ``X-Forwarded-Proto`` from a trusted proxy."""
    if request.url.scheme == "https":
        return True
    proto = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return proto == "https" and _from_trusted_proxy(request, settings)


def set_session_cookie(
    response: Response, request: Request, settings: AuthSettings, name: str, value: str
) -> None:
    response.set_cookie(
        name,
        value,
        # The server slides an idle expiry; the cookie lives as long as the session can.
        max_age=settings.session_absolute_ttl_seconds,
        path="/",
        httponly=True,
        samesite="lax",
        secure=served_over_https(request, settings),
    )


def clear_session_cookie(
    response: Response, request: Request, settings: AuthSettings, name: str
) -> None:
    response.delete_cookie(
        name,
        path="/",
        httponly=True,
        samesite="lax",
        secure=served_over_https(request, settings),
    )

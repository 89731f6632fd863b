"""The session cookies: HttpOnly, SameSite=Lax, Path=/, Secure when served over TLS."""

from __future__ import annotations

from fastapi import Request, Response

from services.auth.schemas import MessageOut
from services.auth.service.sessions import SessionService
from services.auth.settings import AuthSettings
from shared.identity import Principal
from shared.net import is_trusted_proxy

SKYPE_COOKIE = "session"  # spec/skype-parser-api.md
FILES_COOKIE = "session_id"  # spec/file-processing-api.md (also set by the Profile login)


def served_over_https(request: Request, settings: AuthSettings) -> bool:
    """TLS as the client saw it: our own scheme, or ``X-Forwarded-Proto`` from a trusted proxy."""
    if request.url.scheme == "https":
        return True
    proto = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    peer = request.client.host if request.client else None
    return proto == "https" and is_trusted_proxy(peer, settings.trusted_proxies)


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


async def log_out(
    principal: Principal | None,
    sessions: SessionService,
    request: Request,
    response: Response,
    settings: AuthSettings,
    cookie: str,
) -> MessageOut:
    """End the caller's session (cookie, refresh and access tokens); clear ``cookie``."""
    await sessions.logout(principal)
    clear_session_cookie(response, request, settings, cookie)
    return MessageOut(message="Logged out successfully")

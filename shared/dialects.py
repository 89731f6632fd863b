"""The per-route error dialects of API.md, and the one renderer every process uses.

Every error body carries ``code``, ``message`` and ``request_id``; on top of that
each spec's clients find the fields their own documentation promises:

========== ==========================================================
SKYPE      ``{"error": "<message>"}``
PYANALYPT  ``{"detail": ...}`` (FastAPI's shape, validation lists included)
FILES      ``{"detail": ...}``
PROFILE    ``{"error": "<CODE>", "message", "details"}`` (+ ``detail``, as its
           auth examples and validation example show)
EXPORT     ``{"error_code", "message"}``
========== ==========================================================
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from shared.errors import QuarryError


class Dialect(StrEnum):
    SKYPE = "skype"
    PYANALYPT = "pyanalypt"
    FILES = "files"
    PROFILE = "profile"
    EXPORT = "export"
    GENERIC = "generic"


_SKYPE_EXACT = frozenset(
    {
        "/api/register",
        "/api/login",
        "/api/logout",
        "/api/profile",
        "/api/regenerate-api-key",
        "/api/upload",
        "/api/exports",
        "/api/health",
        "/api/version",
    }
)
_SKYPE_PREFIXES = ("/api/status/", "/api/analysis/", "/api/report/", "/api/exports/")
_FILES_EXACT = frozenset(
    {
        "/auth/registration",
        "/auth/logout",
        "/auth/enable-2fa",
        "/auth/disable-2fa",
        "/auth/invalidate-other-sessions",
    }
)
_FILES_PREFIXES = ("/files/", "/webhooks/", "/jobs/", "/jobs")
_PROFILE_EXACT = frozenset(
    {"/connect", "/disconnect", "/sessions", "/status", "/healthcheck", "/metrics"}
)
_PROFILE_PREFIXES = (
    "/auth/",
    "/profile/",
    "/profiles/",
    "/sessions/",
    "/ws/",
    "/cache/",
    "/monitoring/",
)


def dialect_for_path(path: str) -> Dialect:
    """Which spec's error dialect the route at ``path`` speaks."""
    if path in _SKYPE_EXACT or path.startswith(_SKYPE_PREFIXES):
        return Dialect.SKYPE
    if path.startswith(("/api/auth/", "/api/upload/")):
        return Dialect.PYANALYPT
    if path in _FILES_EXACT or path.startswith(_FILES_PREFIXES):
        return Dialect.FILES
    if path in _PROFILE_EXACT or path.startswith(_PROFILE_PREFIXES):
        return Dialect.PROFILE
    if path.startswith("/client/"):
        return Dialect.EXPORT
    if path.startswith("/api/"):
        return Dialect.PYANALYPT
    return Dialect.GENERIC


# FastAPI answers validation failures with 422; the Skype, Profile and Export
# documents say 400 for a malformed request.
VALIDATION_STATUS: dict[Dialect, int] = {
    Dialect.SKYPE: 400,
    Dialect.PROFILE: 400,
    Dialect.EXPORT: 400,
    Dialect.PYANALYPT: 422,
    Dialect.FILES: 422,
    Dialect.GENERIC: 422,
}

# The Profile spec answers every 401 ("Missing or invalid authentication") with
# AUTHENTICATION_REQUIRED; the stable ``code`` still tells the two apart.
_PROFILE_CODES = {
    "rate_limited": "RATE_LIMIT_EXCEEDED",
    "invalid_token": "AUTHENTICATION_REQUIRED",
}
_PROFILE_DEFAULT_DETAILS = {
    "authentication_required": ("Provide either X-API-Key header or Authorization: Bearer <token>"),
    "invalid_token": ("Provide either X-API-Key header or Authorization: Bearer <token>"),
}
# The Export spec's own words for a request without credentials.
_EXPORT_MESSAGES = {"authentication_required": "Authentication required"}
_EXPORT_CODES = {
    "authentication_required": "unauthorized",
    "invalid_token": "unauthorized",
    "validation_error": "invalid_request",
    "bad_request": "invalid_request",
}


def render_error(error: QuarryError, dialect: Dialect, request_id: str | None) -> dict[str, Any]:
    """The JSON body of ``error`` in ``dialect``."""
    body: dict[str, Any] = {
        "code": error.code,
        "message": error.message,
        "request_id": request_id,
    }
    detail: Any = error.details if isinstance(error.details, list) else error.message
    if dialect is Dialect.SKYPE:
        body["error"] = error.message
        if error.details is not None:
            body["details"] = error.details
    elif dialect is Dialect.PROFILE:
        body["error"] = _PROFILE_CODES.get(error.code, error.code.upper())
        body["details"] = (
            error.details if error.details is not None else _PROFILE_DEFAULT_DETAILS.get(error.code)
        )
        body["detail"] = detail
    elif dialect is Dialect.EXPORT:
        body["error_code"] = _EXPORT_CODES.get(error.code, error.code)
        if error.code in _EXPORT_MESSAGES and error.message == error.default_message:
            body["message"] = _EXPORT_MESSAGES[error.code]
        if error.details is not None:
            body["details"] = error.details
    else:
        body["detail"] = detail
    body.update(error.extra)
    return body

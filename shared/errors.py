"""Typed errors: each carries its stable snake_case ``code`` and HTTP status.

Services raise these (or subclasses in their own ``errors.py``); one handler,
installed by :func:`shared.service_app.create_service_app`, renders them in the
caller's dialect (see :mod:`shared.dialects`).
"""

from __future__ import annotations

from typing import Any, ClassVar


class QuarryError(Exception):
    """Base of every error a client may see."""

    status_code: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    default_message: ClassVar[str] = "Internal server error"

    def __init__(
        self,
        message: str | None = None,
        *,
        details: Any = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.details = details
        self.headers = headers or {}
        # Fields a dialect may add verbatim (e.g. retry_after on a 429).
        self.extra = extra or {}
        super().__init__(self.message)


class BadRequest(QuarryError):
    status_code = 400
    code = "bad_request"
    default_message = "Bad request"


class ValidationFailed(BadRequest):
    status_code = 422
    code = "validation_error"
    default_message = "Request validation failed"


class Unauthorized(QuarryError):
    status_code = 401
    code = "authentication_required"
    default_message = "Valid authentication credentials required"


class InvalidCredentials(Unauthorized):
    code = "invalid_credentials"
    default_message = "Invalid username or password"


class InvalidToken(Unauthorized):
    code = "invalid_token"
    default_message = "Invalid or expired token"


class Forbidden(QuarryError):
    status_code = 403
    code = "insufficient_permissions"
    default_message = "Insufficient permissions for this endpoint"


class NotFound(QuarryError):
    status_code = 404
    code = "not_found"
    default_message = "Not found"


class MethodNotAllowed(QuarryError):
    status_code = 405
    code = "method_not_allowed"
    default_message = "Method not allowed"


class Conflict(QuarryError):
    status_code = 409
    code = "conflict"
    default_message = "Conflict"


class PayloadTooLarge(QuarryError):
    status_code = 413
    code = "file_too_large"
    default_message = "Payload too large"


class RateLimited(QuarryError):
    status_code = 429
    code = "rate_limited"
    default_message = "Rate limit exceeded"

    def __init__(
        self,
        retry_after: float,
        *,
        limit: int | None = None,
        window: int | None = None,
        message: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        retry_after = max(round(retry_after, 1), 0.1)
        all_headers = {"Retry-After": str(max(1, int(retry_after + 0.999)))}
        all_headers.update(headers or {})
        extra: dict[str, Any] = {"retry_after": retry_after}
        if limit is not None:
            extra["limit"] = limit
        if window is not None:
            extra["window"] = window
        super().__init__(
            message or f"Rate limit exceeded. Try again in {retry_after} seconds",
            headers=all_headers,
            extra=extra,
        )
        self.retry_after = retry_after


class UpstreamError(QuarryError):
    status_code = 502
    code = "bad_gateway"
    default_message = "An upstream service failed"


class ServiceUnavailable(QuarryError):
    status_code = 503
    code = "service_unavailable"
    default_message = "Service temporarily unavailable"


class UpstreamTimeout(QuarryError):
    status_code = 504
    code = "gateway_timeout"
    default_message = "An upstream service did not answer in time"


_BY_STATUS: dict[int, type[QuarryError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    405: MethodNotAllowed,
    409: Conflict,
    413: PayloadTooLarge,
    422: ValidationFailed,
    502: UpstreamError,
    503: ServiceUnavailable,
    504: UpstreamTimeout,
}


def error_for_status(status: int, message: str | None = None) -> QuarryError:
    """The typed error for a bare HTTP status (used for Starlette's own 404/405)."""
    cls = _BY_STATUS.get(status, QuarryError)
    err = cls(message)
    if cls is QuarryError and status != 500:
        err.status_code = status  # type: ignore[misc]
    return err

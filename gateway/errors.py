"""The gateway's own error types (rendered, like every error, in the route's dialect)."""

from __future__ import annotations

from shared.errors import QuarryError, ServiceUnavailable


class RequestTimeout(QuarryError):
    status_code = 408
    code = "request_timeout"
    default_message = "The request body did not arrive in time"


class UpstreamUnavailable(ServiceUnavailable):
    code = "upstream_unavailable"
    default_message = "The service behind this route is unavailable"

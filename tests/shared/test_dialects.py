from __future__ import annotations

import pytest

from shared.dialects import Dialect, dialect_for_path, render_error
from shared.errors import InvalidCredentials, RateLimited, Unauthorized, ValidationFailed


@pytest.mark.parametrize(
    ("path", "dialect"),
    [
        ("/api/login", Dialect.SKYPE),
        ("/api/upload", Dialect.SKYPE),
        ("/api/status/abc", Dialect.SKYPE),
        ("/api/report/3", Dialect.SKYPE),
        ("/api/upload/", Dialect.PYANALYPT),
        ("/api/auth/login/", Dialect.PYANALYPT),
        ("/auth/registration", Dialect.FILES),
        ("/files/download/12", Dialect.FILES),
        ("/auth/login", Dialect.PROFILE),
        ("/auth/api-keys/generate", Dialect.PROFILE),
        ("/connect", Dialect.PROFILE),
        ("/ws/comments/s1", Dialect.PROFILE),
        ("/client/export/chats", Dialect.EXPORT),
        ("/nowhere", Dialect.GENERIC),
    ],
)
def test_each_route_speaks_its_specs_dialect(path: str, dialect: Dialect) -> None:
    assert dialect_for_path(path) is dialect


def test_skype_error_has_error_field_and_common_fields() -> None:
    body = render_error(InvalidCredentials(), Dialect.SKYPE, "rid-12345678")
    assert body["error"] == "Invalid username or password"
    assert body["code"] == "invalid_credentials"
    assert body["request_id"] == "rid-12345678"


def test_profile_401_matches_the_documented_body() -> None:
    body = render_error(Unauthorized(), Dialect.PROFILE, None)
    assert body["error"] == "AUTHENTICATION_REQUIRED"
    assert body["message"] == "Valid authentication credentials required"
    assert body["details"] == "Provide either X-API-Key header or Authorization: Bearer <token>"


def test_profile_429_carries_retry_after_limit_and_window() -> None:
    err = RateLimited(45.2, limit=100, window=60)
    body = render_error(err, Dialect.PROFILE, None)
    assert body["error"] == "RATE_LIMIT_EXCEEDED"
    assert body["message"] == "Rate limit exceeded. Try again in 45.2 seconds"
    assert (body["retry_after"], body["limit"], body["window"]) == (45.2, 100, 60)
    assert err.headers["Retry-After"] == "46"


def test_export_dialect_maps_codes_to_the_documented_ones() -> None:
    unauthorized = render_error(Unauthorized(), Dialect.EXPORT, None)
    assert (unauthorized["error_code"], unauthorized["message"]) == (
        "unauthorized",
        "Authentication required",
    )
    bad = ValidationFailed("format must be one of [json, excel, both]")
    assert render_error(bad, Dialect.EXPORT, None)["error_code"] == "invalid_request"


def test_validation_lists_survive_as_detail_for_fastapi_dialects() -> None:
    details = [{"loc": ["body", "username"], "msg": "Field required", "type": "missing"}]
    body = render_error(ValidationFailed(details=details), Dialect.FILES, None)
    assert body["detail"] == details

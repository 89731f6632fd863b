"""An unreachable backing service is a 503 with Retry-After, a bug stays a 500."""

from __future__ import annotations

import botocore.exceptions
import redis.exceptions
import sqlalchemy.exc

from shared.backing_errors import unavailable_backend
from shared.error_handlers import unexpected_error


def _wrapped(outer: Exception, inner: BaseException) -> Exception:
    try:
        try:
            raise inner
        except BaseException as exc:
            raise outer from exc
    except Exception as caught:
        return caught


def test_outages_are_named() -> None:
    refused = ConnectionRefusedError(111, "Connection refused")
    database = _wrapped(sqlalchemy.exc.OperationalError("SELECT 1", {}, refused), refused)
    assert unavailable_backend(database) == "database"
    storage = botocore.exceptions.EndpointConnectionError(endpoint_url="http://127.0.0.1:1")
    assert unavailable_backend(storage) == "object storage"
    slow_down = botocore.exceptions.ClientError(
        {"Error": {"Code": "SlowDown"}, "ResponseMetadata": {"HTTPStatusCode": 503}}, "PutObject"
    )
    assert unavailable_backend(slow_down) == "object storage"
    assert unavailable_backend(redis.exceptions.ConnectionError("gone")) == "cache"
    assert unavailable_backend(_wrapped(RuntimeError("x"), refused)) == "backing service"


def test_bugs_and_client_errors_are_not_outages() -> None:
    assert unavailable_backend(ValueError("bug")) is None
    assert unavailable_backend(KeyError("k")) is None
    denied = botocore.exceptions.ClientError(
        {"Error": {"Code": "AccessDenied"}, "ResponseMetadata": {"HTTPStatusCode": 403}},
        "GetObject",
    )
    assert unavailable_backend(denied) is None
    integrity = sqlalchemy.exc.IntegrityError("INSERT", {}, Exception("duplicate key"))
    assert unavailable_backend(integrity) is None


def test_the_client_is_told_503_with_retry_after_or_a_bare_500() -> None:
    outage = unexpected_error(botocore.exceptions.EndpointConnectionError(endpoint_url="http://x"))
    assert outage.status_code == 503
    assert outage.message == "The object storage is temporarily unavailable; try again shortly"
    assert outage.headers["Retry-After"] == "5"
    bug = unexpected_error(ValueError("secret detail"))
    assert bug.status_code == 500
    assert "secret" not in bug.message

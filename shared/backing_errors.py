"""Telling "a backing service is unreachable" apart from a bug.

An exception raised because PostgreSQL, the object store, the queue or Redis cannot
be reached (refused, reset, timed out, answering 5xx) is a 503 the client may retry,
not a 500: :func:`unavailable_backend` names which one, looking through the
exception's causes (SQLAlchemy and botocore wrap the socket error).
"""

from __future__ import annotations

import asyncpg
import botocore.exceptions
import redis.exceptions
import sqlalchemy.exc

RETRY_AFTER_SECONDS = 5

_DATABASE = (
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.TimeoutError,  # the pool: no connection in time
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.AdminShutdownError,
)
_STORAGE = (
    botocore.exceptions.ConnectionError,  # endpoint unreachable, connection closed
    botocore.exceptions.HTTPClientError,  # read timeouts, protocol errors
)
_REDIS = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


def _causes(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain and len(chain) < 10:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def unavailable_backend(exc: BaseException) -> str | None:
    """``"database"``, ``"object storage"``, ``"cache"``, ``"backing service"`` (a bare
    refused or reset connection) or ``None`` (not an outage)."""
    chain = _causes(exc)
    for item in chain:
        if isinstance(item, _DATABASE):
            return "database"
        if isinstance(item, sqlalchemy.exc.DBAPIError) and item.connection_invalidated:
            return "database"
        if isinstance(item, _STORAGE):
            return "object storage"
        if isinstance(item, botocore.exceptions.ClientError):
            status = item.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            if int(status) in (500, 502, 503, 504):
                return "object storage"
        if isinstance(item, _REDIS):
            return "cache"
    # A bare socket error with no library around it (asyncpg connecting, say).
    if any(isinstance(item, (ConnectionRefusedError, ConnectionResetError)) for item in chain):
        return "backing service"
    return None

"""Telling "a backing service is unreachable" apart from a bug.

An exception raised because PostgreSQL, the object store, the queue or Redis cannot
be reached (refused, reset, timed out, answering 5xx) is a 503 the client may retry,
not a 500: :func:`unavailable_backend` names which one, looking through the
exception's causes (SQLAlchemy and botocore wrap the socket error).

The client libraries are looked up among the modules already imported, never imported
here: an exception of a library the process never loaded cannot occur, and a process
(the gateway) does not pay for libraries it does not use.
"""

from __future__ import annotations

import sys
from typing import Any

RETRY_AFTER_SECONDS = 5

# (module, class names, what is unavailable)
_KINDS = (
    ("sqlalchemy.exc", ("OperationalError", "InterfaceError", "TimeoutError"), "database"),
    (
        "asyncpg.exceptions",
        (
            "ConnectionDoesNotExistError",
            "CannotConnectNowError",
            "TooManyConnectionsError",
            "AdminShutdownError",
        ),
        "database",
    ),
    # Endpoint unreachable, connection closed (ConnectionError); read timeouts and
    # protocol errors (HTTPClientError).
    ("botocore.exceptions", ("ConnectionError", "HTTPClientError"), "object storage"),
    ("redis.exceptions", ("ConnectionError", "TimeoutError"), "cache"),
)


def _classes(module: str, names: tuple[str, ...]) -> tuple[type[BaseException], ...]:
    loaded: Any = sys.modules.get(module)
    if loaded is None:
        return ()
    return tuple(getattr(loaded, name) for name in names if hasattr(loaded, name))


def _causes(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain and len(chain) < 10:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _server_error(item: BaseException) -> bool:
    """A botocore ``ClientError`` whose answer was a 5xx (SlowDown, InternalError...)."""
    client_error = _classes("botocore.exceptions", ("ClientError",))
    if not client_error or not isinstance(item, client_error):
        return False
    status = getattr(item, "response", {}).get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return int(status) in (500, 502, 503, 504)


def unavailable_backend(exc: BaseException) -> str | None:
    """``"database"``, ``"object storage"``, ``"cache"``, ``"backing service"`` (a bare
    refused or reset connection) or ``None`` (not an outage)."""
    chain = _causes(exc)
    kinds = [(_classes(module, names), what) for module, names, what in _KINDS]
    dbapi = _classes("sqlalchemy.exc", ("DBAPIError",))
    for item in chain:
        for classes, what in kinds:
            if classes and isinstance(item, classes):
                return what
        if dbapi and isinstance(item, dbapi) and getattr(item, "connection_invalidated", False):
            return "database"
        if _server_error(item):
            return "object storage"
    # A bare socket error with no library around it (asyncpg connecting, say).
    if any(isinstance(item, (ConnectionRefusedError, ConnectionResetError)) for item in chain):
        return "backing service"
    return None

"""How every Redis client of the platform retries: once, on a new connection, when a
pooled connection turns out dead (no SQLAlchemy here: the parse worker imports it)."""

from __future__ import annotations

from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError


def reconnect_once() -> Retry:
    """A command that meets a dead connection is sent once more, on a new one.

    After Redis restarts every pooled connection is dead and the pool does not know it:
    without this, each one fails a command (a health check, a rate-limit decision)
    before it is replaced. A timeout is not retried (a frozen Redis costs one wait),
    nor is a refused connection beyond the one retry (Redis down fails fast).
    """
    return Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,))

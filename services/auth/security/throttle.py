"""Brute-force protection for logins: failures counted per account and per client IP.

A moving window in Redis (the ``limits`` library), shared by every replica.
Only failures count, and nothing is reset on success, so one person's
successful login never clears the counters someone else has run up.

Checking the window and counting a failure are two steps, with a password
verification in between; a burst of parallel guesses would all pass the check
before the first failure is counted. So the attempts on one account run one at
a time (a Redis lock), and a burst gets no more guesses than the limit.
Parallel guesses from one address at many accounts are bounded by the gateway's
own per-address limit on the login routes.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from limits import RateLimitItemPerSecond
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from redis.asyncio import Redis
from redis.exceptions import RedisError

from services.auth.errors import LoginThrottled
from shared.errors import ServiceUnavailable

NAMESPACE = "auth-login"
LOCK_PREFIX = "quarry:auth:login-lock:"
# Longer than any verification; a crashed holder's lock lapses after it.
LOCK_SECONDS = 10.0
# How long a second attempt on the same account waits for the first to finish.
LOCK_WAIT_SECONDS = 5.0


def _unavailable(exc: Exception) -> ServiceUnavailable:
    # Without Redis nothing is checked, so no login proceeds (fail closed): failing
    # open would switch the protection off for as long as Redis can be kept busy.
    error = ServiceUnavailable("Login protection is unavailable; try again shortly")
    error.__cause__ = exc
    return error


class LoginThrottle:
    def __init__(
        self,
        storage: RedisStorage,
        redis: Redis,
        *,
        per_account: int,
        per_ip: int,
        window_seconds: int,
    ) -> None:
        self._limiter = MovingWindowRateLimiter(storage)
        self._redis = redis
        self._account = RateLimitItemPerSecond(per_account, window_seconds)
        self._ip = RateLimitItemPerSecond(per_ip, window_seconds)

    def _checks(self, account: str, ip: str | None) -> list[tuple[RateLimitItemPerSecond, str]]:
        checks = [(self._account, f"account:{account}")]
        if ip:
            checks.append((self._ip, f"ip:{ip}"))
        return checks

    @asynccontextmanager
    async def attempt(self, account: str, ip: str | None) -> AsyncIterator[None]:
        """One credential check of ``account``: refused with :class:`LoginThrottled`
        when the account or address is locked out, serialised per account."""
        lock = self._redis.lock(
            LOCK_PREFIX + account,
            timeout=LOCK_SECONDS,
            blocking=True,
            blocking_timeout=LOCK_WAIT_SECONDS,
        )
        try:
            acquired = await lock.acquire()
        except RedisError as exc:
            raise _unavailable(exc) from exc
        if not acquired:
            raise LoginThrottled(1.0, message="Another login for this account is in progress")
        try:
            try:
                await self._check(account, ip)
            except RedisError as exc:
                raise _unavailable(exc) from exc
            yield
        finally:
            # Expired or Redis gone: the lock lapses on its own.
            with suppress(RedisError):
                await lock.release()

    async def record_failure(self, account: str, ip: str | None) -> None:
        try:
            for item, key in self._checks(account, ip):
                await self._limiter.hit(item, NAMESPACE, key)
        except RedisError as exc:
            raise _unavailable(exc) from exc

    async def _check(self, account: str, ip: str | None) -> None:
        for item, key in self._checks(account, ip):
            if not await self._limiter.test(item, NAMESPACE, key):
                stats = await self._limiter.get_window_stats(item, NAMESPACE, key)
                retry_after = max(stats.reset_time - time.time(), 1.0)
                raise LoginThrottled(
                    retry_after,
                    limit=item.amount,
                    window=item.get_expiry(),
                    message=(
                        "Too many failed login attempts. "
                        f"Try again in {round(retry_after, 1)} seconds"
                    ),
                )

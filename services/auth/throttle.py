"""Brute-force protection for logins: failures counted per account and per client IP.

A moving window in Redis (the ``limits`` library), shared by every replica.
Only failures count, and nothing is reset on success, so one person's
successful login never clears the counters someone else has run up.
"""

from __future__ import annotations

import time

from limits import RateLimitItemPerSecond
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from redis.exceptions import RedisError

from services.auth.errors import LoginThrottled
from shared.errors import ServiceUnavailable

NAMESPACE = "auth-login"


class LoginThrottle:
    def __init__(
        self, storage: RedisStorage, *, per_account: int, per_ip: int, window_seconds: int
    ) -> None:
        self._limiter = MovingWindowRateLimiter(storage)
        self._account = RateLimitItemPerSecond(per_account, window_seconds)
        self._ip = RateLimitItemPerSecond(per_ip, window_seconds)

    def _checks(self, account: str, ip: str | None) -> list[tuple[RateLimitItemPerSecond, str]]:
        checks = [(self._account, f"account:{account}")]
        if ip:
            checks.append((self._ip, f"ip:{ip}"))
        return checks

    async def check(self, account: str, ip: str | None) -> None:
        """Raise :class:`LoginThrottled` when this account or address is locked out.

        Without Redis no login is checked (503): failing open would switch the
        protection off for exactly as long as an attacker can keep Redis busy.
        """
        try:
            await self._check(account, ip)
        except RedisError as exc:
            raise ServiceUnavailable("Login protection is unavailable; try again shortly") from exc

    async def record_failure(self, account: str, ip: str | None) -> None:
        try:
            for item, key in self._checks(account, ip):
                await self._limiter.hit(item, NAMESPACE, key)
        except RedisError as exc:
            raise ServiceUnavailable("Login protection is unavailable; try again shortly") from exc

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

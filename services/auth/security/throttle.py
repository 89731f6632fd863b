"""Brute-force protection for logins that cannot be turned into a lockout of the owner.

Failures are counted in Redis moving windows (the ``limits`` library), shared by every
replica, under three keys (OWASP Authentication Cheat Sheet, "Account lockout"):

- **client + account** (the strong limit): a client that keeps guessing one account is
  refused, and only that client: the owner logging in from anywhere else is not.
- **client** (across accounts): one address spraying many accounts.
- **account** (any client): a much higher ceiling, the bound on guessing from many
  addresses; plus progressive delays: past a threshold, a client that has already
  failed on the account must wait, after the account's latest failure, a delay that
  doubles with every further failure. A client with no failure on the account (the owner
  on another device) is not delayed; only the ceiling refuses it.

A "client" is an IPv4 address or an IPv6 /64 (one subscriber's prefix, which costs an
attacker nothing to rotate within). Only failures count, and nothing is reset on
success, so one person's successful login never clears what someone else has run up.

Checking and counting are two steps with a password verification in between, so the
attempts of one client on one account run one at a time (a Redis lock): a burst from
one client gets no more guesses than its limit. Attempts from different clients run
in parallel; the account ceiling can be passed by at most the attempts in flight.
Without Redis nothing is checked, so no login proceeds (503, fail closed).
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass

from limits import RateLimitItem, RateLimitItemPerSecond
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from redis.asyncio import Redis
from redis.exceptions import RedisError

from services.auth.errors import LoginThrottled, RegistrationThrottled
from shared.errors import ServiceUnavailable

NAMESPACE = "auth-login"
LOCK_PREFIX = "quarry:auth:login-lock:"
LAST_FAILURE_PREFIX = "quarry:auth:login-last-failure:"
# Longer than any verification; a crashed holder's lock lapses after it.
LOCK_SECONDS = 10.0
# How long a second attempt of the same client on the same account waits for the first.
LOCK_WAIT_SECONDS = 5.0
IPV6_CLIENT_PREFIX = 64


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    """The numbers (AuthSettings ``login_*``; docs/DESIGN.md states their consequences)."""

    per_client_and_account: int = 5
    per_client: int = 50
    client_window_seconds: int = 900
    per_account: int = 100
    account_window_seconds: int = 3600
    # Account failures in the window before repeat attempts are delayed, and the cap.
    delay_after: int = 10
    delay_cap_seconds: float = 60.0

    def delay(self, account_failures: int) -> float:
        """How long a client that has failed on the account waits after the account's
        latest failure: 1 s at the threshold, doubling with each failure past it."""
        excess = account_failures - self.delay_after
        if excess < 0:
            return 0.0
        return float(min(self.delay_cap_seconds, 2.0 ** min(excess, 32)))


def client_key(ip: str | None) -> str:
    """The client a failure is charged to: the IPv4 address, or the IPv6 /64."""
    if not ip:
        return "unknown"
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, IPV6_CLIENT_PREFIX), strict=False))
    return str(address)


def _unavailable(exc: Exception) -> ServiceUnavailable:
    # Failing open would switch the protection off for as long as Redis can be kept busy.
    error = ServiceUnavailable("Login protection is unavailable; try again shortly")
    error.__cause__ = exc
    return error


def _refusal(
    retry_after: float,
    limit: int,
    window: float,
    message: str,
    error: type[LoginThrottled | RegistrationThrottled] = LoginThrottled,
) -> LoginThrottled | RegistrationThrottled:
    """The 429, with headers that describe the throttle that refused (not a gateway bucket)."""
    retry_after = max(retry_after, 1.0)
    reset = int(time.time() + retry_after + 0.999)
    return error(
        retry_after,
        limit=limit,
        window=int(window),
        message=f"{message} Try again in {round(retry_after, 1)} seconds",
        headers={
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": str(reset),
        },
    )


class LoginThrottle:
    def __init__(self, storage: RedisStorage, redis: Redis, policy: ThrottlePolicy) -> None:
        self._limiter = MovingWindowRateLimiter(storage)
        self._redis = redis
        self.policy = policy
        self._pair = RateLimitItemPerSecond(
            policy.per_client_and_account, policy.client_window_seconds
        )
        self._client = RateLimitItemPerSecond(policy.per_client, policy.client_window_seconds)
        self._account = RateLimitItemPerSecond(policy.per_account, policy.account_window_seconds)

    def _keys(self, account: str, client: str) -> list[tuple[RateLimitItem, str]]:
        return [
            (self._pair, f"pair:{account}:{client}"),
            (self._client, f"client:{client}"),
            (self._account, f"account:{account}"),
        ]

    @asynccontextmanager
    async def attempt(self, account: str, ip: str | None) -> AsyncIterator[None]:
        """One credential check of ``account`` by the client at ``ip``: refused with
        :class:`LoginThrottled` when a limit or delay applies, serialised per client
        and account."""
        client = client_key(ip)
        lock = self._redis.lock(
            f"{LOCK_PREFIX}{account}:{client}",
            timeout=LOCK_SECONDS,
            blocking=True,
            blocking_timeout=LOCK_WAIT_SECONDS,
        )
        try:
            acquired = await lock.acquire()
        except RedisError as exc:
            raise _unavailable(exc) from exc
        if not acquired:
            raise _refusal(
                1.0,
                1,
                LOCK_WAIT_SECONDS,
                "Another login for this account from your network is in progress.",
            )
        try:
            try:
                await self._check(account, client)
            except RedisError as exc:
                raise _unavailable(exc) from exc
            yield
        finally:
            # Expired or Redis gone: the lock lapses on its own.
            with suppress(RedisError):
                await lock.release()

    async def record_failure(self, account: str, ip: str | None) -> None:
        client = client_key(ip)
        try:
            for item, key in self._keys(account, client):
                await self._limiter.hit(item, NAMESPACE, key)
            await self._redis.set(
                LAST_FAILURE_PREFIX + account,
                repr(time.time()),
                ex=self.policy.account_window_seconds,
            )
        except RedisError as exc:
            raise _unavailable(exc) from exc

    async def _used(self, item: RateLimitItem, key: str) -> tuple[int, float]:
        """Failures in the window, and when the oldest of them leaves it."""
        stats = await self._limiter.get_window_stats(item, NAMESPACE, key)
        return item.amount - stats.remaining, stats.reset_time

    async def _check(self, account: str, client: str) -> None:
        policy = self.policy
        pair_key, client_key_, account_key = (key for _, key in self._keys(account, client))
        pair_used, pair_reset = await self._used(self._pair, pair_key)
        if pair_used >= policy.per_client_and_account:
            raise _refusal(
                pair_reset - time.time(),
                policy.per_client_and_account,
                policy.client_window_seconds,
                "Too many failed login attempts for this account from your network.",
            )
        client_used, client_reset = await self._used(self._client, client_key_)
        if client_used >= policy.per_client:
            raise _refusal(
                client_reset - time.time(),
                policy.per_client,
                policy.client_window_seconds,
                "Too many failed login attempts from your network.",
            )
        account_used, account_reset = await self._used(self._account, account_key)
        if account_used >= policy.per_account:
            raise _refusal(
                account_reset - time.time(),
                policy.per_account,
                policy.account_window_seconds,
                "Too many failed login attempts for this account.",
            )
        delay = policy.delay(account_used)
        if pair_used and delay > 0:
            raw = await self._redis.get(LAST_FAILURE_PREFIX + account)
            last = float(raw) if raw else 0.0
            wait = last + delay - time.time()
            if wait > 0:
                raise _refusal(
                    wait,
                    1,
                    delay,
                    "Too many failed login attempts for this account: slow down.",
                )


class RegistrationLimiter:
    """Registrations per client (IPv4 address or IPv6 /64) in a moving window.

    A registration answers whether a username or e-mail is taken (the specs document
    those answers), so without a limit it enumerates accounts at the speed of the
    network. Every attempt counts, whatever its outcome; counting and checking are one
    atomic step (``limits``' hit), so parallel attempts cannot pass it together.
    """

    def __init__(self, storage: RedisStorage, *, per_client: int, window_seconds: int) -> None:
        self._limiter = MovingWindowRateLimiter(storage)
        self._item = RateLimitItemPerSecond(per_client, window_seconds)

    async def hit(self, ip: str | None) -> None:
        """Count one attempt of the client at ``ip``; :class:`RegistrationThrottled`
        (429) past the limit, 503 without Redis."""
        key = f"register:{client_key(ip)}"
        try:
            if await self._limiter.hit(self._item, NAMESPACE, key):
                return
            stats = await self._limiter.get_window_stats(self._item, NAMESPACE, key)
        except RedisError as exc:
            raise _unavailable(exc) from exc
        raise _refusal(
            stats.reset_time - time.time(),
            self._item.amount,
            self._item.get_expiry(),
            "Too many registrations from your network.",
            RegistrationThrottled,
        )

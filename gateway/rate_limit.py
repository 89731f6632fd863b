"""Rate limiting in Redis, shared by every gateway replica (the ``limits`` library).

The rules are the Profile spec's (api 100/60 s, auth 10/60 s, connect 5/60 s,
strict 10/60 s, websocket 20/60 s) and the Export spec's (10 exports per minute
per user and 100 per hour per client), each configurable (``GATEWAY_RATE_LIMIT_*``,
"<requests>/<seconds>"), plus a generous ``system`` class for health, monitoring
and docs so that probes and launchers never trip a limit. The key is the
principal when the caller is authenticated, the client address otherwise.

Strategy: the sliding-window counter. It smooths the burst a fixed window
allows at its boundary (the spec speaks of a token bucket; this gives the same
"at most N in any window, refilled continuously" behaviour), costs two counters
per key whatever the limit (a moving window keeps one entry per request, which
a benchmark limit of millions would turn into millions of list entries), and
each hit is one atomic Lua script in Redis.

When Redis is unreachable the gateway stays up. Each class then either fails
open (requests pass, ``X-RateLimit-*`` still sent with the configured limit) or
fails closed (503 with ``Retry-After``), chosen by what the limit protects:

- ``auth`` fails closed: it is the brute-force guard of every login and
  registration route, and credential guessing is exactly the traffic that would
  exploit an outage; a minute without logins beats an unbounded password spray.
- ``strict`` fails closed: admin operations (cache purges, session clean-ups,
  bulk revalidation) are expensive and never urgent.
- ``export`` fails closed: one export can read a client's whole chat history and
  build a large file; the spec's per-client hourly cap is a cost control.
- ``connect`` fails closed: each call opens a connection to a third party (TikTok);
  unbounded retries could get the platform blocked there.
- ``api``, ``websocket`` and ``system`` fail open: they carry the everyday
  traffic; refusing all of it because the limiter's store is down would turn a
  Redis outage into a full outage, while the services still authenticate every
  request and bound their own work.

A failed Redis call opens a short circuit breaker (``GATEWAY_RATE_LIMIT_BREAKER_SECONDS``)
so an outage costs one bounded timeout, not one per request; the state is
reported on ``/monitoring/detailed``.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field
from typing import Any

from limits import RateLimitItem, RateLimitItemPerSecond
from limits.aio.storage import RedisStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from redis.asyncio import BlockingConnectionPool
from redis.backoff import NoBackoff
from redis.retry import Retry

from gateway.route_table import RateClass
from gateway.settings import GatewaySettings
from shared.errors import RateLimited, ServiceUnavailable
from shared.log import get_logger

log = get_logger("gateway.rate_limit")

KEY_PREFIX = "quarry:ratelimit"
FAIL_CLOSED = frozenset({RateClass.AUTH, RateClass.STRICT, RateClass.EXPORT, RateClass.CONNECT})


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    item: RateLimitItem
    fail_open: bool

    @property
    def limit(self) -> int:
        return int(self.item.amount)

    @property
    def window(self) -> int:
        return int(self.item.get_expiry())


@dataclass(slots=True)
class Decision:
    """The outcome of one check, and the headers it puts on the response."""

    limit: int
    remaining: int
    reset_at: float  # epoch seconds
    degraded: bool = False

    def headers(self) -> list[tuple[bytes, bytes]]:
        return [
            (b"x-ratelimit-limit", str(self.limit).encode()),
            (b"x-ratelimit-remaining", str(max(self.remaining, 0)).encode()),
            (b"x-ratelimit-reset", str(math.ceil(self.reset_at)).encode()),
        ]

    def header_dict(self) -> dict[str, str]:
        return {k.decode(): v.decode() for k, v in self.headers()}


class RateLimitHeaders:
    """The ``X-RateLimit-*`` headers of one request (the most restrictive rule wins)."""

    def __init__(self, parts: list[Decision | asyncio.Task[Decision]]) -> None:
        self._parts = parts
        self._resolved: list[tuple[bytes, bytes]] | None = None

    async def resolve(self) -> list[tuple[bytes, bytes]]:
        if self._resolved is None:
            decisions = [p if isinstance(p, Decision) else await p for p in self._parts]
            tightest = min(decisions, key=lambda d: d.remaining)
            self._resolved = tightest.headers()
        return self._resolved

    async def as_dict(self) -> dict[str, str]:
        return {k.decode(): v.decode() for k, v in await self.resolve()}


def _item(spec: str) -> RateLimitItem:
    amount, _, seconds = spec.partition("/")
    return RateLimitItemPerSecond(int(amount), int(seconds))


def rules_from_settings(settings: GatewaySettings) -> dict[RateClass, list[Rule]]:
    def rule(name: str, spec: str, rate_class: RateClass) -> Rule:
        return Rule(name, _item(spec), rate_class not in FAIL_CLOSED)

    s = settings
    return {
        RateClass.API: [rule("api", s.rate_limit_api, RateClass.API)],
        RateClass.AUTH: [rule("auth", s.rate_limit_auth, RateClass.AUTH)],
        RateClass.CONNECT: [rule("connect", s.rate_limit_connect, RateClass.CONNECT)],
        RateClass.STRICT: [rule("strict", s.rate_limit_strict, RateClass.STRICT)],
        RateClass.WEBSOCKET: [rule("websocket", s.rate_limit_websocket, RateClass.WEBSOCKET)],
        RateClass.SYSTEM: [rule("system", s.rate_limit_system, RateClass.SYSTEM)],
        RateClass.EXPORT: [
            rule("export_user", s.rate_limit_export_user, RateClass.EXPORT),
            rule("export_client", s.rate_limit_export_client, RateClass.EXPORT),
        ],
    }


@dataclass(slots=True)
class LimiterState:
    available: bool = True
    down_until: float = 0.0  # monotonic
    last_error: str | None = None
    last_error_at: float | None = None  # epoch
    failures: int = 0
    degraded_decisions: dict[str, int] = field(default_factory=dict)
    rejected: dict[str, int] = field(default_factory=dict)


class GatewayRateLimiter:
    """Checks and consumes the limits of one request against Redis."""

    def __init__(self, settings: GatewaySettings) -> None:
        self.enabled = settings.rate_limit_enabled
        self.rules = rules_from_settings(settings)
        self._timeout = settings.rate_limit_redis_timeout_seconds
        self._breaker = settings.rate_limit_breaker_seconds
        url = (settings.rate_limit_redis_url or settings.redis_url).removeprefix("async+")
        # A bounded pool that waits (briefly) for a free connection: a burst of
        # requests must queue for Redis, not fail the limiter over to "degraded".
        self._pool = BlockingConnectionPool.from_url(
            url,
            max_connections=settings.rate_limit_redis_max_connections,
            timeout=self._timeout,
            socket_timeout=self._timeout,
            socket_connect_timeout=self._timeout,
            retry=Retry(NoBackoff(), 0),
            health_check_interval=30,
        )
        self._storage = RedisStorage(
            "async+" + url,
            implementation="redispy",
            key_prefix=KEY_PREFIX,
            connection_pool=self._pool,  # type: ignore[arg-type]
        )
        self._limiter = SlidingWindowCounterRateLimiter(self._storage)
        self.state = LimiterState()
        # Window statistics computed while their requests proceed (kept until done).
        self._pending: set[asyncio.Task[Decision]] = set()

    async def close(self) -> None:
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        client: Any = getattr(self._storage.bridge, "storage", None)
        if client is not None:
            await client.aclose()
        await self._pool.aclose()

    async def check(
        self, rate_class: RateClass, key: str, client_id: str | None = None
    ) -> RateLimitHeaders:
        """Consume one request of ``rate_class`` for ``key``.

        The hit (the atomic check-and-consume) is done before this returns; the
        window statistics for the ``X-RateLimit-*`` headers are fetched while the
        request goes on, and resolved when its answer starts. Raises
        :class:`RateLimited` (429) or, for a fail-closed class with Redis down,
        :class:`ServiceUnavailable` (503), both carrying the headers.
        """
        parts: list[Decision | asyncio.Task[Decision]] = []
        for rule in self.rules[rate_class]:
            identity = client_id if rule.name == "export_client" and client_id else key
            parts.append(await self._check_rule(rule, identity))
        return RateLimitHeaders(parts)

    async def _check_rule(self, rule: Rule, identity: str) -> Decision | asyncio.Task[Decision]:
        now = time.time()
        if self.state.down_until > time.monotonic():
            return self._degraded(rule, now)
        try:
            async with asyncio.timeout(self._timeout * 2):
                allowed = await self._limiter.hit(rule.item, rule.name, identity)
        except Exception as exc:  # any storage failure: the gateway stays up
            self._record_failure(exc)
            return self._degraded(rule, now)
        if not self.state.available:
            log.info("rate_limiter_recovered")
        self.state.available = True
        if not allowed:
            self.state.rejected[rule.name] = self.state.rejected.get(rule.name, 0) + 1
            decision = await self._stats(rule, identity, now)
            decision.remaining = 0
            raise RateLimited(
                max(decision.reset_at - now, 0.1),
                limit=rule.limit,
                window=rule.window,
                headers=decision.header_dict(),
            )
        task = asyncio.create_task(self._stats(rule, identity, now))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
        return task

    async def _stats(self, rule: Rule, identity: str, now: float) -> Decision:
        try:
            async with asyncio.timeout(self._timeout * 2):
                stats = await self._limiter.get_window_stats(rule.item, rule.name, identity)
        except Exception as exc:
            self._record_failure(exc)
            return Decision(rule.limit, rule.limit, now + rule.window, degraded=True)
        reset_at = stats.reset_time if stats.reset_time > now else now + rule.window
        return Decision(rule.limit, int(stats.remaining), reset_at)

    async def exhausted(self, rule_name: str, rate_class: RateClass, identity: str) -> bool:
        """Whether ``identity`` has no requests left under ``rate_class`` (no hit recorded)."""
        rule = self.rules[rate_class][0]
        if self.state.down_until > time.monotonic():
            return not rule.fail_open
        try:
            async with asyncio.timeout(self._timeout * 2):
                return not await self._limiter.test(rule.item, rule_name, identity)
        except Exception as exc:
            self._record_failure(exc)
            return not rule.fail_open

    async def record(self, rule_name: str, rate_class: RateClass, identity: str) -> None:
        """Count one event against ``identity`` without deciding anything now."""
        rule = self.rules[rate_class][0]
        if self.state.down_until > time.monotonic():
            return
        try:
            async with asyncio.timeout(self._timeout * 2):
                await self._limiter.hit(rule.item, rule_name, identity)
        except Exception as exc:
            self._record_failure(exc)

    def _record_failure(self, exc: BaseException) -> None:
        if self.state.available:
            log.warning("rate_limiter_unavailable", error=repr(exc))
        self.state.available = False
        self.state.failures += 1
        self.state.last_error = type(exc).__name__
        self.state.last_error_at = time.time()
        self.state.down_until = time.monotonic() + self._breaker

    def _degraded(self, rule: Rule, now: float) -> Decision:
        counts = self.state.degraded_decisions
        counts[rule.name] = counts.get(rule.name, 0) + 1
        decision = Decision(rule.limit, rule.limit, now + rule.window, degraded=True)
        if not rule.fail_open:
            retry = max(1, math.ceil(self._breaker))
            raise ServiceUnavailable(
                "Rate limiting is temporarily unavailable; try again shortly",
                headers={"Retry-After": str(retry), **decision.header_dict()},
            )
        return decision

    async def ping(self) -> bool:
        try:
            async with asyncio.timeout(self._timeout * 2):
                return bool(await self._storage.check())
        except Exception:
            return False

    def snapshot(self) -> dict[str, Any]:
        return {
            "status": "healthy" if self.state.available else "degraded",
            "enabled": self.enabled,
            "backend": "redis",
            "strategy": "sliding-window-counter",
            "redis_available": self.state.available,
            "last_error": self.state.last_error,
            "last_error_at": self.state.last_error_at,
            "failures": self.state.failures,
            "rules": {
                rule.name: {
                    "limit": rule.limit,
                    "window": rule.window,
                    "when_redis_down": "fail_open" if rule.fail_open else "fail_closed",
                }
                for rules in self.rules.values()
                for rule in rules
            },
            "rejected": dict(self.state.rejected),
            "degraded_decisions": dict(self.state.degraded_decisions),
        }

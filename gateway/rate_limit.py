"""Rate limiting in Redis, shared by every gateway replica: one script call per request
(:mod:`gateway.rate_limit_script`, the ``limits`` library's sliding-window counter)
checks and consumes every rule of the request and returns the figures of each.

The rules are the Profile spec's (api 100/60 s, auth 10/60 s, connect 5/60 s,
strict 10/60 s, websocket 20/60 s) and the Export spec's (10 exports per minute
per user and 100 per hour per client), each configurable (``GATEWAY_RATE_LIMIT_*``,
"<requests>/<seconds>"), plus a generous ``system`` class for health, monitoring
and docs so that probes and launchers never trip a limit. The key is the
principal when the caller is authenticated, the client address otherwise; the
export rule per client is keyed by the tenant.

Strategy: the sliding-window counter. It smooths the burst a fixed window allows at
its boundary (the spec speaks of a token bucket; this gives the same "at most N in
any window, refilled continuously" behaviour) and costs two counters per key whatever
the limit (a moving window keeps one entry per request).

Headers: ``X-RateLimit-Limit`` / ``-Remaining`` of the tightest rule;
``X-RateLimit-Reset`` (epoch seconds) is when that rule's current window ends (one
window from now for a new bucket) or, on a 429, when the next request will be allowed,
as ``Retry-After`` says.

When Redis is unreachable the gateway stays up. Each class then either fails
open (requests pass; ``X-RateLimit-Limit`` is still sent, the unknown remainder is
not) or fails closed (503 with ``Retry-After``), chosen by what the limit protects:

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

Calls made in the same turn of the event loop (under load, the requests whose bytes
arrived together) go to Redis as one pipeline: one write and one read for all of them,
each still one script call that decides its own request. Profiled under
``bench/gateway.py``, redis-py's per-call machinery (pool checkout, retry wrapper,
packing, the reply parser) was a fifth of the gateway's CPU per request at 50
connections; a call with nothing else on its way to Redis is sent at once, as before.

A failed Redis call opens a circuit breaker (:mod:`gateway.breaker`,
``GATEWAY_RATE_LIMIT_BREAKER_SECONDS``) so an outage costs one bounded wait, not one
per request; its state is reported on ``/monitoring/detailed``.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.exceptions import NoScriptError

from gateway.breaker import CircuitBreaker
from gateway.rate_limit_script import SLIDING_WINDOW_SCRIPT
from gateway.route_table import RateClass
from gateway.settings import GatewaySettings
from shared.errors import RateLimited, ServiceUnavailable
from shared.log import get_logger
from shared.redis_retry import reconnect_once

log = get_logger("gateway.rate_limit")

KEY_PREFIX = "quarry:ratelimit"
FAIL_CLOSED = frozenset({RateClass.AUTH, RateClass.STRICT, RateClass.EXPORT, RateClass.CONNECT})
HeaderList = list[tuple[bytes, bytes]]
_Call = tuple[list[str], list[int], "asyncio.Future[list[int]]"]  # keys, args, the answer
LIMIT, REMAINING, RESET = b"x-ratelimit-limit", b"x-ratelimit-remaining", b"x-ratelimit-reset"


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    limit: int
    window: int  # seconds
    fail_open: bool
    per_client: bool = False  # keyed by the tenant rather than the principal
    _head: str = field(init=False, repr=False)
    _tail: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # The key layout of ``limits`` (RateLimitItemPerSecond(limit, window).key_for(name,
        # identity) under the storage prefix): its tools read the same buckets.
        object.__setattr__(self, "_head", f"{KEY_PREFIX}:{{LIMITER/{self.name}/")
        object.__setattr__(self, "_tail", f"/{self.limit}/{self.window}/second}}")

    def keys(self, identity: str) -> tuple[str, str]:
        """(previous window's key, current window's key) for ``identity``."""
        current = f"{self._head}{identity}{self._tail}"
        return f"{current}/-1", current


def _rule(name: str, spec: str, rate_class: RateClass, *, per_client: bool = False) -> Rule:
    amount, _, seconds = spec.partition("/")
    return Rule(name, int(amount), int(seconds), rate_class not in FAIL_CLOSED, per_client)


def rules_from_settings(settings: GatewaySettings) -> dict[RateClass, tuple[Rule, ...]]:
    s = settings
    return {
        RateClass.API: (_rule("api", s.rate_limit_api, RateClass.API),),
        RateClass.AUTH: (_rule("auth", s.rate_limit_auth, RateClass.AUTH),),
        RateClass.CONNECT: (_rule("connect", s.rate_limit_connect, RateClass.CONNECT),),
        RateClass.STRICT: (_rule("strict", s.rate_limit_strict, RateClass.STRICT),),
        RateClass.WEBSOCKET: (_rule("websocket", s.rate_limit_websocket, RateClass.WEBSOCKET),),
        RateClass.SYSTEM: (_rule("system", s.rate_limit_system, RateClass.SYSTEM),),
        RateClass.EXPORT: (
            _rule("export_user", s.rate_limit_export_user, RateClass.EXPORT),
            _rule("export_client", s.rate_limit_export_client, RateClass.EXPORT, per_client=True),
        ),
    }


def _headers(limit: int, remaining: int | None, reset_at: float | None) -> HeaderList:
    headers = [(LIMIT, b"%d" % limit)]
    if remaining is not None:
        headers.append((REMAINING, b"%d" % remaining))
    if reset_at is not None:
        headers.append((RESET, b"%d" % math.ceil(reset_at)))
    return headers


def as_dict(headers: HeaderList) -> dict[str, str]:
    return {name.decode(): value.decode() for name, value in headers}


@dataclass(slots=True)
class LimiterCounts:
    rejected: dict[str, int] = field(default_factory=dict)
    degraded_decisions: dict[str, int] = field(default_factory=dict)


class GatewayRateLimiter:
    """Checks and consumes the limits of one request against Redis."""

    def __init__(self, settings: GatewaySettings) -> None:
        self.enabled = settings.rate_limit_enabled
        self.rules = rules_from_settings(settings)
        timeout = settings.rate_limit_redis_timeout_seconds
        url = (settings.rate_limit_redis_url or settings.redis_url).removeprefix("async+")
        # A bounded pool that waits (briefly) for a free connection: a burst of
        # requests must queue for Redis, not fail the limiter over to "degraded".
        self._pool = BlockingConnectionPool.from_url(
            url,
            max_connections=settings.rate_limit_redis_max_connections,
            timeout=timeout,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            # A dead pooled connection (Redis restarted) is replaced at once, not
            # counted as an outage that opens the breaker.
            retry=reconnect_once(),
            health_check_interval=30,
        )
        self._redis = Redis(connection_pool=self._pool)
        self._script = self._redis.register_script(SLIDING_WINDOW_SCRIPT)
        # Script calls waiting for this turn of the event loop to end (see the module doc).
        self._pending: list[_Call] = []
        self._flushes: set[asyncio.Task[None]] = set()
        self._direct = 0  # calls sent on their own, not yet answered
        self.breaker = CircuitBreaker("rate-limiter-redis", settings.rate_limit_breaker_seconds)
        self.counts = LimiterCounts()
        # The degraded answer of each class, computed once.
        self._degraded = {
            rate: _headers(min(r.limit for r in rules), None, None)
            for rate, rules in self.rules.items()
        }

    async def close(self) -> None:
        for task in list(self._flushes):
            await asyncio.gather(task, return_exceptions=True)
        await self._redis.aclose()
        await self._pool.aclose()

    async def check(
        self, rate_class: RateClass, key: str, client_id: str | None = None
    ) -> HeaderList:
        """Consume one request of ``rate_class`` for ``key`` (and the tenant ``client_id``
        where a rule is per client): the ``X-RateLimit-*`` headers for the answer.

        Raises :class:`RateLimited` (429) or, for a fail-closed class with Redis down,
        :class:`ServiceUnavailable` (503), both carrying the headers.
        """
        rules = self.rules[rate_class]
        if not self.breaker.allow():
            return self._degrade(rate_class, rules)
        keys: list[str] = []
        args: list[int] = []
        for rule in rules:
            keys.extend(rule.keys(client_id if rule.per_client and client_id else key))
            args += (rule.limit, rule.window)
        try:
            answer = await self._evaluate(keys, args)
        except Exception as exc:  # any storage failure: the gateway stays up
            if self.breaker.closed:
                log.warning("rate_limiter_unavailable", error=repr(exc))
            self.breaker.failure(exc)
            return self._degrade(rate_class, rules)
        if not self.breaker.closed:
            log.info("rate_limiter_recovered")
            self.breaker.success()
        now = time.time()
        if answer[0] == 1:
            # The tightest rule's figures (one rule everywhere but exports).
            best = min(range(len(rules)), key=lambda i: answer[1 + 3 * i])
            return _headers(
                rules[best].limit, answer[1 + 3 * best], now + answer[2 + 3 * best] / 1000
            )
        # Refused: the rule that makes the caller wait longest speaks.
        worst = max(range(len(rules)), key=lambda i: answer[3 + 3 * i])
        rule, retry = rules[worst], answer[3 + 3 * worst] / 1000
        self.counts.rejected[rule.name] = self.counts.rejected.get(rule.name, 0) + 1
        raise RateLimited(
            retry,
            limit=rule.limit,
            window=rule.window,
            headers=as_dict(_headers(rule.limit, 0, now + retry)),
        )

    async def _evaluate(self, keys: list[str], args: list[int]) -> list[int]:
        """The script's answer for one request, sent with this turn's other calls."""
        if not self._pending and not self._flushes and not self._direct:
            # Nothing else on its way to Redis (1 connection, a quiet gateway): no turn
            # spent waiting for company.
            self._direct += 1
            try:
                answer: list[int] = await self._script(keys=keys, args=args)
            finally:
                self._direct -= 1
            return answer
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[int]] = loop.create_future()
        self._pending.append((keys, args, future))
        if len(self._pending) == 1:
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        batch, self._pending = self._pending, []
        # A task of its own: a request that goes away must not strand the others.
        task = asyncio.get_running_loop().create_task(self._send(batch))
        self._flushes.add(task)
        task.add_done_callback(self._flushes.discard)

    async def _send(self, batch: list[_Call]) -> None:
        try:
            if len(batch) == 1:
                keys, args, _ = batch[0]
                answers: list[Any] = [await self._script(keys=keys, args=args)]
            else:
                answers = await self._pipeline(batch)
        except Exception as exc:
            answers = [exc] * len(batch)
        for (_, _, future), answer in zip(batch, answers, strict=True):
            if future.done():
                continue
            if isinstance(answer, BaseException):
                future.set_exception(answer)
            else:
                future.set_result(answer)

    async def _pipeline(self, batch: list[_Call]) -> list[Any]:
        sha = self._script.sha
        async with self._redis.pipeline(transaction=False) as pipe:
            for keys, args, _ in batch:
                pipe.evalsha(sha, len(keys), *keys, *args)
            answers: list[Any] = await pipe.execute(raise_on_error=False)
        if any(isinstance(answer, NoScriptError) for answer in answers):
            # Redis lost its scripts (restarted, flushed): load it and send those again.
            await self._redis.script_load(SLIDING_WINDOW_SCRIPT)
            again = [i for i, answer in enumerate(answers) if isinstance(answer, NoScriptError)]
            async with self._redis.pipeline(transaction=False) as pipe:
                for i in again:
                    keys, args, _ = batch[i]
                    pipe.evalsha(sha, len(keys), *keys, *args)
                for i, answer in zip(again, await pipe.execute(raise_on_error=False), strict=True):
                    answers[i] = answer
        return answers

    def _degrade(self, rate_class: RateClass, rules: tuple[Rule, ...]) -> HeaderList:
        counts = self.counts.degraded_decisions
        for rule in rules:
            counts[rule.name] = counts.get(rule.name, 0) + 1
        headers = self._degraded[rate_class]
        if not rules[0].fail_open:
            retry = max(1, math.ceil(self.breaker.retry_after()))
            raise ServiceUnavailable(
                "Rate limiting is temporarily unavailable; try again shortly",
                headers={"Retry-After": str(retry), **as_dict(headers)},
            )
        return headers

    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except Exception:
            return False

    def snapshot(self) -> dict[str, Any]:
        breaker = self.breaker.snapshot()
        available = breaker["state"] == "closed"
        return {
            "status": "healthy" if available else "degraded",
            "enabled": self.enabled,
            "backend": "redis",
            "strategy": "sliding-window-counter",
            "redis_available": available,
            "last_error": breaker["last_error"],
            "last_error_at": breaker["last_error_at"],
            "failures": breaker["failures"],
            "breaker": breaker,
            "rules": {
                rule.name: {
                    "limit": rule.limit,
                    "window": rule.window,
                    "when_redis_down": "fail_open" if rule.fail_open else "fail_closed",
                }
                for rules in self.rules.values()
                for rule in rules
            },
            "rejected": dict(self.counts.rejected),
            "degraded_decisions": dict(self.counts.degraded_decisions),
        }

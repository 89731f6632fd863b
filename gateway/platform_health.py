"""The health of the whole platform, as the gateway sees it.

Asks every service's ``/health`` (which checks its PostgreSQL schema, Redis, and
for ingest and analysis S3 and SQS), pings the gateway's own Redis, reads the
parse worker's heartbeat key (and the converters it reports), and folds it into
components:
``gateway``, ``auth``, ``ingest``, ``analysis``, ``profile``, ``postgresql``,
``redis``, ``s3``, ``sqs``, ``worker`` (and the rate limiter's state).

The answer is cached for ``GATEWAY_HEALTH_CACHE_SECONDS`` (one refresh at a time)
so that public health routes cannot be used to multiply traffic to every service.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from redis.asyncio import Redis

from shared.health import overall, run_check
from shared.heartbeat import last_beat, read_capabilities
from shared.log import get_logger

log = get_logger("gateway.health")

SERVICES = ("auth", "ingest", "analysis", "profile")


class PlatformHealth:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        redis: Redis,
        service_urls: dict[str, str],
        *,
        timeout: float,
        cache_seconds: float,
        heartbeat_key: str,
        heartbeat_max_age: float,
        require_worker: bool,
        extra_checks: dict[str, Callable[[], Awaitable[dict[str, Any]]]] | None = None,
    ) -> None:
        self._session = session
        self._redis = redis
        self._urls = service_urls
        self._timeout = timeout
        self._cache_seconds = cache_seconds
        self._heartbeat_key = heartbeat_key
        self._heartbeat_max_age = heartbeat_max_age
        self._require_worker = require_worker
        self._extra = extra_checks or {}
        self._cached: dict[str, Any] | None = None
        self._cached_at = 0.0
        self._lock = asyncio.Lock()

    async def components(self) -> dict[str, Any]:
        """Every component's state (cached briefly)."""
        if self._cached is not None and time.monotonic() - self._cached_at < self._cache_seconds:
            return self._cached
        async with self._lock:
            if (
                self._cached is not None
                and time.monotonic() - self._cached_at < self._cache_seconds
            ):
                return self._cached
            self._cached = await self._collect()
            self._cached_at = time.monotonic()
            return self._cached

    @staticmethod
    def status(components: dict[str, Any]) -> str:
        return overall({k: v for k, v in components.items() if v.get("required", True)})

    async def _service(self, name: str) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            async with self._session.get(
                f"{self._urls[name]}/health",
                timeout=aiohttp.ClientTimeout(total=self._timeout),
                allow_redirects=False,
            ) as response:
                body = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            return {"status": "unhealthy", "error": f"unreachable ({type(exc).__name__})"}
        latency = round((time.perf_counter() - started) * 1000, 2)
        if not isinstance(body, dict):
            return {"status": "unhealthy", "error": "unexpected health answer"}
        status = (
            "healthy" if response.status == 200 and body.get("status") == "healthy" else "unhealthy"
        )
        return {
            "status": status,
            "latency_ms": latency,
            "version": body.get("version"),
            "components": body.get("components", {}),
        }

    async def _redis_check(self) -> None:
        await self._redis.ping()

    async def _worker(self) -> dict[str, Any]:
        try:
            async with asyncio.timeout(self._timeout):
                beat = await last_beat(self._redis, self._heartbeat_key)
                capabilities = await read_capabilities(self._redis)
        except Exception as exc:
            return {"status": "unhealthy", "error": f"heartbeat unreadable ({type(exc).__name__})"}
        state: dict[str, Any]
        if beat is None:
            state = {"status": "unhealthy", "error": "no heartbeat"}
        else:
            age = round(time.time() - beat, 1)
            if age > self._heartbeat_max_age:
                state = {"status": "unhealthy", "error": f"last heartbeat {age}s ago"}
            else:
                state = {"status": "healthy", "last_heartbeat_age_seconds": age}
        state["required"] = self._require_worker
        if capabilities is not None:  # the converters the worker found (documents)
            state["converters"] = capabilities
        return state

    async def _collect(self) -> dict[str, Any]:
        names = list(SERVICES)
        service_results, redis_state, worker_state, extra = await asyncio.gather(
            asyncio.gather(*(self._service(n) for n in names)),
            run_check(self._redis_check, self._timeout),
            self._worker(),
            asyncio.gather(*(run_check(check, self._timeout) for check in self._extra.values())),
        )
        services = dict(zip(names, service_results, strict=True))
        components: dict[str, Any] = {"gateway": {"status": "healthy"}}
        components.update(services)
        components["postgresql"] = self._fold(services, "database", expected=names)
        components["redis"] = redis_state
        components["s3"] = self._fold(services, "s3", expected=("ingest", "analysis"))
        components["sqs"] = self._fold(services, "sqs", expected=("ingest", "analysis"))
        components["worker"] = worker_state
        for name, state in zip(self._extra, extra, strict=True):
            components[name] = state
        return components

    @staticmethod
    def _fold(
        services: dict[str, dict[str, Any]],
        component: str,
        *,
        expected: tuple[str, ...] | list[str],
    ) -> dict[str, Any]:
        """One backing service's state, as the services that use it report it."""
        seen: dict[str, str] = {}
        for name in expected:
            state = services.get(name, {})
            check = state.get("components", {}).get(component)
            if isinstance(check, dict):
                seen[name] = str(check.get("status", "unhealthy"))
            else:
                seen[name] = (
                    "unknown (service unreachable)"
                    if state.get("status") != "healthy"
                    else "unchecked"
                )
        reported = {k: v for k, v in seen.items() if v in ("healthy", "unhealthy")}
        if reported and all(v == "healthy" for v in reported.values()):
            status = "healthy"
        else:
            status = "unhealthy"
        return {"status": status, "reported_by": seen}

"""Health and monitoring routes: the Skype HealthCheck, the Profile monitoring shapes,
and Prometheus metrics."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx
import psutil
import pytest
from redis.asyncio import Redis

from gateway.introspection_cache import Introspected, IntrospectionCache
from gateway.memory import footprint
from gateway.token_cache import VerifiedTokenCache
from shared.heartbeat import WORKER_HEARTBEAT_KEY, beat
from shared.identity import Principal
from tests.gateway.conftest import RunningGateway, StartGateway, Upstreams
from tests.gateway.support import KeyRing


@pytest.fixture
async def worker_alive(redis_url: str) -> AsyncIterator[None]:
    redis = Redis.from_url(redis_url)
    await beat(redis)
    yield
    await redis.delete(WORKER_HEARTBEAT_KEY)
    await redis.aclose()


async def test_api_health_is_200_when_everything_is_healthy(
    client: httpx.AsyncClient, worker_alive: None
) -> None:
    response = await client.get("/api/health")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "healthy"
    assert body["version"] == "1.0.0"
    assert body["timestamp"].endswith("Z")
    components = body["components"]
    for name in (
        "gateway",
        "auth",
        "ingest",
        "analysis",
        "profile",
        "postgresql",
        "redis",
        "s3",
        "sqs",
        "worker",
    ):
        assert components[name]["status"] == "healthy", name


async def test_api_health_is_503_without_a_worker_heartbeat(
    client: httpx.AsyncClient, redis_url: str
) -> None:
    redis = Redis.from_url(redis_url)
    await redis.delete(WORKER_HEARTBEAT_KEY)
    await redis.aclose()
    response = await client.get("/api/health")
    assert response.status_code == 503
    assert response.json()["components"]["worker"]["status"] == "unhealthy"


async def test_api_health_is_503_when_a_service_is_unhealthy(
    client: httpx.AsyncClient, upstreams: Upstreams, worker_alive: None
) -> None:
    upstreams.analysis.healthy = False
    try:
        response = await client.get("/api/health")
    finally:
        upstreams.analysis.healthy = True
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unhealthy"
    assert body["components"]["analysis"]["status"] == "unhealthy"
    assert body["components"]["auth"]["status"] == "healthy"


async def test_version_healthcheck_and_ping(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/version")).json() == {"version": "1.0.0"}
    health = (await client.get("/healthcheck")).json()
    assert set(health) == {"status", "timestamp", "version", "service"}
    assert health["status"] == "healthy"
    ping = (await client.get("/monitoring/ping")).json()
    assert ping["message"] == "pong"
    assert set(ping) == {"message", "timestamp", "version"}


async def test_monitoring_detailed_has_the_profile_shape(
    client: httpx.AsyncClient, worker_alive: None
) -> None:
    body = (await client.get("/monitoring/detailed")).json()
    assert {"status", "timestamp", "version", "service", "components"} <= set(body)
    components = body["components"]
    assert components["database"]["info"] == {
        "database_url": "masked",
        "connection_healthy": True,
        "database_type": "postgresql",
        "reported_by": components["database"]["info"]["reported_by"],
    }
    assert {"hit_rate", "total_entries"} <= set(components["cache"])
    assert {
        "requests_last_minute",
        "avg_response_time_ms",
        "system_cpu_percent",
        "system_memory_percent",
    } <= set(components["metrics"]["stats"])
    assert components["rate_limiter"]["status"] == "healthy"
    assert components["rate_limiter"]["rules"]["auth"]["when_redis_down"] == "fail_closed"
    assert components["rate_limiter"]["rules"]["api"]["when_redis_down"] == "fail_open"
    assert set(components["services"]) == {"auth", "ingest", "analysis", "profile"}
    assert body["status"] == "healthy"


async def test_monitoring_metrics_counts_requests_in_the_window(
    gateway: RunningGateway, keyring: KeyRing
) -> None:
    async with gateway.client() as client:
        headers = {"Authorization": f"Bearer {keyring.mint()}"}
        for _ in range(3):
            await client.get("/sessions", headers=headers)
        await client.get("/nowhere")
        body = (await client.get("/monitoring/metrics", params={"time_window": 1})).json()
    requests = body["metrics"]["requests"]
    assert requests["total"] >= 4
    assert requests["errors"] >= 1
    assert requests["success"] >= 3
    assert requests["total"] == requests["success"] + requests["errors"]
    assert requests["avg_duration_ms"] > 0
    system = body["metrics"]["system"]
    assert {"percent"} <= set(system["cpu"])
    assert {"percent", "used_mb", "available_mb"} <= set(system["memory"])
    assert {"used_gb", "free_gb"} <= set(system["disk"])


async def test_monitoring_metrics_rejects_a_bad_window(client: httpx.AsyncClient) -> None:
    response = await client.get("/monitoring/metrics", params={"time_window": "zero"})
    assert response.status_code == 400
    assert response.json()["error"] == "VALIDATION_ERROR"


async def test_cache_stats(client: httpx.AsyncClient, upstreams: Upstreams) -> None:
    upstreams.auth.grant("pk_stats", sid="key:stats")
    for _ in range(3):
        await client.get("/sessions", headers={"X-API-Key": "pk_stats"})
    stats = (await client.get("/monitoring/cache/stats")).json()["cache_stats"]["credentials"]
    assert {"hit_rate", "miss_rate", "total_entries", "memory_usage_mb", "evictions"} <= set(stats)
    assert stats["by_category"]["introspected_credentials"] >= 1
    assert stats["hit_rate"] > 0


async def test_status_requires_authentication(
    client: httpx.AsyncClient, keyring: KeyRing, worker_alive: None
) -> None:
    anonymous = await client.get("/status")
    assert anonymous.status_code == 401
    assert anonymous.json()["error"] == "AUTHENTICATION_REQUIRED"
    response = await client.get("/status", headers={"Authorization": f"Bearer {keyring.mint()}"})
    assert response.status_code == 200
    body = response.json()
    assert {"status", "service", "connections", "cache", "database", "websockets"} <= set(body)
    assert body["database"]["database_url"] == "masked"
    assert response.headers["x-ratelimit-limit"]


async def test_prometheus_metrics(client: httpx.AsyncClient) -> None:
    await client.get("/healthcheck")
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert 'quarry_http_requests_total{method="GET",route="/healthcheck"' in response.text


async def test_cache_memory_is_measured_not_estimated(
    gateway: RunningGateway, upstreams: Upstreams
) -> None:
    """Credentials whose principals are large cost what they hold (an estimate per entry
    said ~1.6 kB whatever they held)."""
    async with gateway.client() as client:
        # The gateway's own credential cache (the avatar cache is the profile service's).
        before = (await client.get("/monitoring/cache/stats")).json()["cache_stats"]["credentials"]
        for i in range(20):
            key = f"pk_big_{i}"
            upstreams.auth.grant(
                key, sid=f"key:big{i}", scopes=[f"s{i}-{n:06d}" for n in range(4000)]
            )
            assert (await client.get("/sessions", headers={"X-API-Key": key})).status_code == 200
        after = (await client.get("/monitoring/cache/stats")).json()["cache_stats"]["credentials"]
    # 20 introspected keys + their 20 tokens, each carrying ~4000 scope strings.
    grown_mb = after["memory_usage_mb"] - before["memory_usage_mb"]
    assert grown_mb > 20 * 4000 * 50 / (1024 * 1024), (before, after)


def test_cache_bytes_follow_what_comes_and_goes(keyring: KeyRing) -> None:
    cache = IntrospectionCache(max_entries=3)
    tokens = VerifiedTokenCache(max_entries=3)
    entries: dict[str, Introspected] = {}
    for i in range(5):
        principal = Principal.from_claims(keyring.claims(sid=f"sid-{i}"))
        entries[f"key-{i}"] = Introspected(f"tok-{i}", principal, f"sid-{i}", time.monotonic() + 60)
        cache.put(f"key-{i}", entries[f"key-{i}"])
        tokens.put(f"tok-{i}", principal)
    kept = ("key-2", "key-3", "key-4")  # the LRU dropped the two oldest
    assert cache.stats.evictions == 2
    assert cache.bytes == sum(footprint(k, entries[k]) for k in kept)
    cache.evict_handle("sid-3")
    assert cache.bytes == sum(footprint(k, entries[k]) for k in ("key-2", "key-4"))
    cache.clear()
    assert cache.bytes == 0
    assert tokens.evictions == 2
    assert tokens.bytes == sum(
        footprint(f"tok-{i}", entries[f"key-{i}"].principal) for i in (2, 3, 4)
    )
    assert tokens.get("tok-2") is not None  # used: now the most recent
    tokens.put("tok-5", entries["key-4"].principal)
    assert tokens.get("tok-3") is None  # the least recently used went, not the oldest
    assert tokens.get("tok-2") is not None


async def test_hit_rates_are_absent_before_any_lookup(start_gateway: StartGateway) -> None:
    gateway = await start_gateway()
    async with gateway.client() as client:
        stats = (await client.get("/monitoring/cache/stats")).json()["cache_stats"]["credentials"]
    assert stats["hit_rate"] is None
    assert stats["miss_rate"] is None


async def test_metrics_component_fails_when_host_figures_cannot_be_read(
    client: httpx.AsyncClient, worker_alive: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreadable() -> None:
        raise PermissionError("/proc is not readable")

    monkeypatch.setattr(psutil, "virtual_memory", unreadable)
    body = (await client.get("/monitoring/detailed")).json()
    metrics = body["components"]["metrics"]
    assert metrics["status"] == "unhealthy"
    assert "PermissionError" in metrics["error"]
    assert metrics["stats"]["system_memory_percent"] is None
    assert body["status"] == "degraded"

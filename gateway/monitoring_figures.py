"""The figures of the monitoring routes, each measured or absent (``None``), and the
health of the gateway's own components, each the result of a check that can fail.

- ``cache``: the credential caches (introspected API keys and sessions, verified
  bearer tokens). Their hit rate is counted, their memory measured entry by entry
  (:mod:`gateway.memory`). Healthy only while revocations reach them: a cache that
  no longer hears of revoked credentials keeps serving them, which is the failure
  that matters.
- ``metrics``: healthy when the figures could be read: the host's CPU, memory and
  disk (psutil) and the Prometheus registry (collected as ``/metrics`` would).
- ``auth_breaker``: the breaker in front of auth (introspection, JWKS, revocations):
  unhealthy while open, that is while auth is failing.
- ``database``: the services' own health checks of their PostgreSQL pools (a timed
  query each); connections and pool sizes as they report them.
"""

from __future__ import annotations

from typing import Any

import psutil
from prometheus_client import generate_latest

from gateway.breaker import CircuitBreaker
from gateway.runtime import GatewayRuntime
from shared.log import get_logger

log = get_logger("gateway.monitoring")
MB = 1024 * 1024
SERVICES = ("auth", "ingest", "analysis", "profile")


def system() -> dict[str, Any]:
    """The host's CPU, memory and disk, or the reason they could not be read."""
    try:
        memory = psutil.virtual_memory()
        disk = psutil.disk_usage("/")
        return {
            "cpu": {"percent": psutil.cpu_percent(interval=None)},
            "memory": {
                "percent": memory.percent,
                "used_mb": round(memory.used / MB),
                "available_mb": round(memory.available / MB),
            },
            "disk": {
                "used_gb": round(disk.used / 1024**3, 1),
                "free_gb": round(disk.free / 1024**3, 1),
            },
        }
    except Exception as exc:  # psutil failing is a monitoring fault, not a crash
        log.warning("system_figures_failed", error=repr(exc))
        return {"error": f"host figures unreadable ({type(exc).__name__})"}


def metrics_component(runtime: GatewayRuntime, host: dict[str, Any]) -> dict[str, Any]:
    minute = runtime.stats.window(60)
    stats: dict[str, Any] = {
        "requests_last_minute": minute["total"],
        "avg_response_time_ms": minute["avg_duration_ms"],
        "system_cpu_percent": host.get("cpu", {}).get("percent"),
        "system_memory_percent": host.get("memory", {}).get("percent"),
    }
    errors = [host["error"]] if "error" in host else []
    try:
        generate_latest()
    except Exception as exc:
        errors.append(f"prometheus registry unreadable ({type(exc).__name__})")
    component: dict[str, Any] = {"status": "unhealthy" if errors else "healthy", "stats": stats}
    if errors:
        component["error"] = "; ".join(errors)
    return component


def cache_stats(runtime: GatewayRuntime) -> dict[str, Any]:
    """The Profile spec's ``cache_stats``, for the gateway's credential caches."""
    introspected = runtime.authenticator.introspection_cache
    tokens = runtime.authenticator.token_cache
    snapshot = introspected.snapshot()
    lookups = introspected.lookups + tokens.hits + tokens.misses
    hits = introspected.stats.hits + introspected.stats.negative_hits + tokens.hits
    hit_rate = round(hits / lookups, 4) if lookups else None
    return {
        "hit_rate": hit_rate,
        "miss_rate": None if hit_rate is None else round(1 - hit_rate, 4),
        "total_entries": len(introspected) + len(tokens),
        "memory_usage_mb": round((introspected.memory_bytes + tokens.memory_bytes) / MB, 3),
        "evictions": introspected.stats.evictions + tokens.evictions,
        "by_category": {
            "introspected_credentials": snapshot["active_credentials"],
            "rejected_credentials": snapshot["inactive_credentials"],
            "verified_tokens": len(tokens),
        },
        "introspection": {**snapshot, "calls_to_auth": runtime.authenticator.introspection_calls},
        "verified_tokens": {
            "entries": len(tokens),
            "hits": tokens.hits,
            "misses": tokens.misses,
            "evictions": tokens.evictions,
            "memory_bytes": tokens.memory_bytes,
        },
    }


def cache_component(runtime: GatewayRuntime, stats: dict[str, Any]) -> dict[str, Any]:
    component: dict[str, Any] = {
        "status": "healthy",
        "hit_rate": stats["hit_rate"],
        "total_entries": stats["total_entries"],
    }
    revocations = runtime.revocations
    component["revocations"] = "pub/sub" if revocations.connected else "polling auth"
    if not revocations.synced:
        component["status"] = "unhealthy"
        component["error"] = "revocations are not arriving: cached credentials are not evicted"
    return component


def breaker_component(breaker: CircuitBreaker) -> dict[str, Any]:
    """A circuit breaker's state: unhealthy while what it guards is failing."""
    return {"status": "healthy" if breaker.closed else "unhealthy", **breaker.snapshot()}


def database(components: dict[str, Any]) -> dict[str, Any]:
    state = components.get("postgresql", {})
    return {
        "database_url": "masked",
        "connection_healthy": state.get("status") == "healthy",
        "database_type": "postgresql",
        "reported_by": state.get("reported_by", {}),
    }


def database_metrics(components: dict[str, Any]) -> dict[str, Any]:
    """The Profile spec's ``connections``, ``pool_size`` and ``query_avg_ms``, summed over
    the pools the services report (their health checks time a query and read the pool);
    absent when no service reported one."""
    connections = pool_size = 0
    pools = 0
    latencies: list[float] = []
    for name in SERVICES:
        state = components.get(name)
        check = state.get("components", {}).get("database") if isinstance(state, dict) else None
        if not isinstance(check, dict):
            continue
        info = check.get("info", {})
        if isinstance(info.get("pool_size"), int):
            pools += 1
            connections += int(info.get("checked_out", 0))
            pool_size += int(info["pool_size"])
        if isinstance(check.get("latency_ms"), int | float):
            latencies.append(float(check["latency_ms"]))
    return {
        **database(components),
        "connections": connections if pools else None,
        "pool_size": pool_size if pools else None,
        "query_avg_ms": round(sum(latencies) / len(latencies), 2) if latencies else None,
    }

"""The Profile spec's monitoring routes, aggregated over the whole platform, and
Prometheus ``/metrics``."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any

import aiohttp
from fastapi import APIRouter, Query
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gateway import monitoring_figures as figures
from gateway.dependencies import AccessTokenDep, PrincipalDep, RuntimeDep
from gateway.profile_figures import (
    UNAVAILABLE,
    UNAVAILABLE_CACHE,
    UNAVAILABLE_CACHE_STATS,
    profile_figures,
)
from gateway.routes.health import SERVICE_NAME, now_iso
from gateway.runtime import GatewayRuntime

router = APIRouter(tags=["Monitoring"])


@router.get("/monitoring/ping", summary="Simple connectivity test")
async def ping(runtime: RuntimeDep) -> dict[str, Any]:
    return {"message": "pong", "timestamp": now_iso(), "version": runtime.settings.version}


@router.get("/monitoring/detailed", summary="Health of every service and backing service")
async def detailed(runtime: RuntimeDep) -> dict[str, Any]:
    """Always 200 while the gateway answers; ``status`` says whether anything is wrong."""
    platform, profile = await asyncio.gather(runtime.health.components(), profile_figures(runtime))
    limiter = runtime.limiter.snapshot()
    components: dict[str, Any] = {
        "database": {
            "status": platform["postgresql"]["status"],
            "info": figures.database(platform),
        },
        # The avatar cache and providers (the profile service's own figures).
        "cache": _avatar_cache_component(profile),
        "avatar_providers": profile["avatar_providers"] if profile else UNAVAILABLE,
        "credential_cache": figures.cache_component(runtime, figures.cache_stats(runtime)),
        "metrics": figures.metrics_component(runtime, figures.system()),
        "redis": platform["redis"],
        "rate_limiter": limiter,
        "auth_breaker": figures.breaker_component(runtime.authenticator.auth_client.breaker),
        "revocation_feed": {
            "status": "healthy" if runtime.revocations.synced else "unhealthy",
            "connected": runtime.revocations.connected,
            "fallback_polls": runtime.revocations.polls,
        },
        "s3": platform["s3"],
        "sqs": platform["sqs"],
        "worker": platform["worker"],
        "services": {name: platform[name] for name in ("auth", "ingest", "analysis", "profile")},
    }
    states = [c.get("status") for c in components.values() if isinstance(c, dict) and "status" in c]
    states += [s.get("status") for s in components["services"].values()]
    return {
        "status": "healthy" if all(s == "healthy" for s in states) else "degraded",
        "timestamp": now_iso(),
        "version": runtime.settings.version,
        "service": SERVICE_NAME,
        "components": components,
    }


@router.get("/monitoring/metrics", summary="Performance metrics over a time window")
async def metrics(
    runtime: RuntimeDep,
    time_window: Annotated[int, Query(ge=1, le=60, description="Window in minutes")] = 5,
) -> dict[str, Any]:
    platform = await runtime.health.components()
    return {
        "metrics": {
            "requests": runtime.stats.window(time_window * 60),
            "system": figures.system(),
            "database": figures.database_metrics(platform),
            "gateway": {
                "uptime_seconds": round(time.time() - runtime.started_at, 1),
                "requests_since_start": runtime.stats.total,
                "active_websockets": sum(runtime.websockets.values()),
            },
        },
        "time_window_minutes": time_window,
        "timestamp": now_iso(),
    }


def _avatar_cache_component(profile: dict[str, Any] | None) -> dict[str, Any]:
    if profile is None:
        return dict(UNAVAILABLE_CACHE)
    stats = profile["cache_stats"]
    return {
        "status": "healthy",
        "hit_rate": stats["hit_rate"],
        "total_entries": stats["total_entries"],
    }


@router.get("/monitoring/cache/stats", summary="Avatar cache (and credential cache) statistics")
async def cache_stats(runtime: RuntimeDep) -> dict[str, Any]:
    """The profile service's avatar cache, every replica added up; the gateway's own
    credential cache under ``credentials``."""
    profile = await profile_figures(runtime)
    stats = dict(profile["cache_stats"]) if profile else dict(UNAVAILABLE_CACHE_STATS)
    stats["credentials"] = figures.cache_stats(runtime)
    return {"cache_stats": stats, "timestamp": now_iso()}


async def _sessions(runtime: GatewayRuntime, token: str | None) -> dict[str, Any]:
    """The live comment sessions, as the profile service reports them to this caller."""
    empty: dict[str, Any] = {  # not known: the counts absent, not zero (the ids stay a list)
        "total_sessions": None,
        "connected_sessions": None,
        "disconnected_sessions": None,
        "active_session_ids": [],
    }
    if token is None:
        return {**empty, "available": False}
    try:
        async with runtime.session.get(
            f"{runtime.settings.profile_internal_url.rstrip('/')}/sessions",
            headers={"Authorization": f"Bearer {token}", **runtime.proof_headers},
            timeout=aiohttp.ClientTimeout(total=runtime.settings.health_timeout_seconds),
        ) as response:
            body = await response.json(content_type=None) if response.status == 200 else None
    except (aiohttp.ClientError, TimeoutError, ValueError):
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("active_sessions"), list):
        return {**empty, "available": False}
    sessions = [s for s in body["active_sessions"] if isinstance(s, dict)]
    connected = [s for s in sessions if s.get("status") == "connected"]
    return {
        "total_sessions": len(sessions),
        "connected_sessions": len(connected),
        "disconnected_sessions": len(sessions) - len(connected),
        "active_session_ids": [str(s.get("session_id")) for s in connected],
        "available": True,
    }


@router.get("/status", summary="Platform status and statistics (authenticated)")
async def status(
    runtime: RuntimeDep, principal: PrincipalDep, token: AccessTokenDep
) -> dict[str, Any]:
    scope = None if principal.is_admin else principal.client_id
    platform, connections, profile = await asyncio.gather(
        runtime.health.components(), _sessions(runtime, token), profile_figures(runtime, scope)
    )
    cache = figures.cache_stats(runtime)
    pools = figures.database_metrics(platform)
    if profile is not None:  # the caller's sessions, as the profile service measures them
        connections = {**profile["connections"], "available": True}
    return {
        "status": runtime.health.status(platform),
        "service": SERVICE_NAME,
        "version": runtime.settings.version,
        "timestamp": now_iso(),
        "caller": {"username": principal.username, "role": principal.role.value},
        "connections": connections,
        "cache": profile["cache"]
        if profile
        else {
            "total_entries": cache["total_entries"],
            "hit_rate": cache["hit_rate"],
            "by_category": cache["by_category"],
        },
        "database": {
            **figures.database(platform),
            "engine_info": {
                **platform["postgresql"],
                "pool_size": pools["pool_size"],
                "checked_out": pools["connections"],
            },
        },
        "websockets": profile["websockets"]
        if profile
        else {
            "active_connections": sum(runtime.websockets.values()),
            "session_ids": sorted(runtime.websockets),
        },
        "services": {
            name: {"status": platform[name]["status"]}
            for name in ("auth", "ingest", "analysis", "profile")
        },
        "rate_limiter": {"status": runtime.limiter.snapshot()["status"]},
    }


@router.get("/metrics", include_in_schema=False)
async def prometheus() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

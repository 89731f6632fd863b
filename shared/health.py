"""Component checks behind every process's ``/health`` (and the gateway's aggregate)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from shared.log import get_logger

HealthCheck = Callable[[], Awaitable[Any]]
log = get_logger("shared.health")


async def run_check(check: HealthCheck, timeout: float = 2.0) -> dict[str, Any]:
    """``{"status": "healthy", "latency_ms": ..}`` or ``unhealthy`` with a short reason."""
    started = time.perf_counter()
    try:
        info = await asyncio.wait_for(check(), timeout)
    except TimeoutError:
        return {"status": "unhealthy", "error": f"no answer within {timeout}s"}
    except Exception as exc:
        log.warning("health_check_failed", error=str(exc))
        return {"status": "unhealthy", "error": type(exc).__name__}
    result: dict[str, Any] = {
        "status": "healthy",
        "latency_ms": round((time.perf_counter() - started) * 1000, 2),
    }
    if isinstance(info, dict):
        result["info"] = info
    return result


async def run_checks(checks: dict[str, HealthCheck], timeout: float = 2.0) -> dict[str, Any]:
    names = list(checks)
    results = await asyncio.gather(*(run_check(checks[n], timeout) for n in names))
    return dict(zip(names, results, strict=True))


def overall(components: dict[str, dict[str, Any]]) -> str:
    return (
        "healthy" if all(c.get("status") == "healthy" for c in components.values()) else "unhealthy"
    )

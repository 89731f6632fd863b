"""The profile service's measured figures for the Profile spec's monitoring routes.

``GET {PROFILE_INTERNAL_URL}/internal/figures`` (``X-Internal-Token``) answers the
pieces only the profile service can measure: ``/status`` ``connections``, ``cache``,
``websockets``; ``/monitoring/detailed`` ``avatar_providers``; ``/monitoring/cache/stats``
``cache_stats`` (the avatar cache, every profile replica added up). ``None`` when the
service does not answer: the routes then say so instead of inventing figures.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from gateway.runtime import GatewayRuntime
from shared.internal import INTERNAL_TOKEN_HEADER


async def profile_figures(
    runtime: GatewayRuntime, client_id: str | None = None
) -> dict[str, Any] | None:
    """The figures, ``client_id`` scoping the session lists (None: every tenant)."""
    params = {"client_id": client_id} if client_id is not None else {}
    try:
        async with runtime.session.get(
            f"{runtime.settings.profile_internal_url.rstrip('/')}/internal/figures",
            params=params,
            headers={INTERNAL_TOKEN_HEADER: runtime.settings.internal_token},
            timeout=aiohttp.ClientTimeout(total=runtime.settings.health_timeout_seconds),
        ) as response:
            body = await response.json(content_type=None) if response.status == 200 else None
    except (aiohttp.ClientError, TimeoutError, ValueError):
        return None
    if not isinstance(body, dict) or not set(body) >= REQUIRED:
        return None
    return body


REQUIRED = frozenset({"connections", "cache", "cache_stats", "avatar_providers", "websockets"})
# No "status": a silent profile service is already unhealthy in "services"; these figures
# are only absent (None) rather than invented.
UNAVAILABLE: dict[str, Any] = {"error": "the profile service did not answer"}
UNAVAILABLE_CACHE: dict[str, Any] = {**UNAVAILABLE, "hit_rate": None, "total_entries": None}
UNAVAILABLE_CACHE_STATS: dict[str, Any] = {
    **UNAVAILABLE_CACHE,
    "miss_rate": None,
    "memory_usage_mb": None,
    "evictions": None,
    "by_category": {},
}

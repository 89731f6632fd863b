"""Routes for the gateway only (``X-Internal-Token``; never routed, not in the OpenAPI)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from services.profile.dependencies import RuntimeDep, require_internal_token

router = APIRouter(
    prefix="/internal", include_in_schema=False, dependencies=[Depends(require_internal_token)]
)


@router.get("/figures")
async def figures(
    runtime: RuntimeDep,
    client_id: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, Any]:
    """Measured figures for the gateway's /status, /monitoring/detailed and
    /monitoring/cache/stats (``client_id``: that tenant's sessions only)."""
    return await runtime.figures(client_id)

"""Routes other services call (``X-Internal-Token``; never routed by the gateway)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from services.ingest.dependencies import RuntimeDep, require_internal_token
from services.ingest.service.files import FileRemoval

router = APIRouter(
    prefix="/internal", include_in_schema=False, dependencies=[Depends(require_internal_token)]
)


@router.delete("/files/{file_id}")
async def delete_file(file_id: int, runtime: RuntimeDep) -> dict[str, Any]:
    """Remove a file's object from S3 and mark it deleted (idempotent): analysis calls
    this when a user deletes an export."""
    removed = await FileRemoval(runtime.sessions, runtime.s3).remove(file_id)
    return {"file_id": file_id, "deleted": removed}

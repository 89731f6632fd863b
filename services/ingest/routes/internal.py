"""Routes other services call (``X-Internal-Token``; never routed by the gateway)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends

from services.ingest.dependencies import JobsDep, RuntimeDep, require_internal_token
from services.ingest.service.files import FileRemoval

router = APIRouter(
    prefix="/internal", include_in_schema=False, dependencies=[Depends(require_internal_token)]
)


@router.delete("/uploads/{upload_id}")
async def delete_upload(upload_id: uuid.UUID, runtime: RuntimeDep) -> dict[str, Any]:
    """Remove a dataset upload's object and mark its file deleted (idempotent): analysis
    calls this when a dataset is deleted or a guest's upload expires."""
    removed = await FileRemoval(runtime.sessions, runtime.s3).remove_upload(upload_id)
    return {"upload_id": str(upload_id), "deleted": removed}


@router.get("/jobs/{job_id}")
async def job_state(job_id: uuid.UUID, jobs: JobsDep) -> dict[str, Any]:
    """A job's state for another service (analysis shows a dataset's progress)."""
    snapshot = await jobs.snapshot(job_id)
    return {
        "id": snapshot.id,
        "status": snapshot.status,
        "progress": snapshot.progress,
        "message": snapshot.message,
        "error": snapshot.error,
    }


@router.delete("/files/{file_id}")
async def delete_file(file_id: int, runtime: RuntimeDep) -> dict[str, Any]:
    """Remove a file's object from S3 and mark it deleted (idempotent): analysis calls
    this when a user deletes an export."""
    removed = await FileRemoval(runtime.sessions, runtime.s3).remove(file_id)
    return {"file_id": file_id, "deleted": removed}

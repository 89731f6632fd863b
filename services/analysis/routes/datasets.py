"""PyAnalypt dataset results (the spec names no route; API.md: ``/api/upload/{id}/``):
the caller's uploads, each with its status, profile, HTML report and preview.
Errors as ``{"detail": ...}``. A guest passes its ``session_id`` as a query parameter."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse

from services.analysis.dependencies import DatasetsDep, DatasetViewerDep
from services.analysis.schemas import DatasetDeleted, DatasetDetail, DatasetPreview, DatasetSummary
from services.analysis.service.datasets import PREVIEW_DEFAULT, PREVIEW_MAX

router = APIRouter(tags=["PyAnalypt: datasets"])
# The report is inert: no script, nothing fetched; only its own inline styles.
REPORT_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
SESSION = Query(None, description="A guest's session_id (the one it uploaded with)")
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such upload (or another tenant's, another guest's, expired)"}
}
NOT_READY: dict[int | str, dict[str, Any]] = {
    **NOT_FOUND,
    409: {"description": "The profile is not ready (still processing, or it failed)"},
}


@router.get("/api/upload/", response_model=list[DatasetSummary])
async def list_uploads(
    viewer: DatasetViewerDep, datasets: DatasetsDep, session_id: str | None = SESSION
) -> list[dict[str, Any]]:
    """The caller's uploads (a user: the tenant's; a guest: its session's), newest first."""
    return await datasets.list(viewer)


@router.get("/api/upload/{upload_id}/", response_model=DatasetDetail, responses=NOT_FOUND)
async def get_upload(
    upload_id: str,
    viewer: DatasetViewerDep,
    datasets: DatasetsDep,
    session_id: str | None = SESSION,
) -> dict[str, Any]:
    """The upload, its status (``processing``, ``completed``, ``failed`` with the reason)
    and, once completed, its profile: table, columns, correlations, alerts, quality."""
    return await datasets.detail(upload_id, viewer)


@router.get(
    "/api/upload/{upload_id}/report",
    response_class=HTMLResponse,
    responses={**NOT_READY, 200: {"content": {"text/html": {}}}},
)
async def get_report(
    upload_id: str,
    viewer: DatasetViewerDep,
    datasets: DatasetsDep,
    session_id: str | None = SESSION,
) -> HTMLResponse:
    """The profile as a self-contained HTML page (histograms, correlation matrix)."""
    html = await datasets.report(upload_id, viewer)
    return HTMLResponse(html, headers={"Content-Security-Policy": REPORT_POLICY})


@router.get("/api/upload/{upload_id}/preview", response_model=DatasetPreview, responses=NOT_READY)
async def get_preview(
    upload_id: str,
    viewer: DatasetViewerDep,
    datasets: DatasetsDep,
    rows: int = Query(PREVIEW_DEFAULT, ge=1, le=PREVIEW_MAX, description="Rows to show"),
    session_id: str | None = SESSION,
) -> dict[str, Any]:
    """The first ``rows`` rows as read (default 10, at most 1000)."""
    return await datasets.preview(upload_id, viewer, rows)


@router.delete("/api/upload/{upload_id}/", response_model=DatasetDeleted, responses=NOT_FOUND)
async def delete_upload(
    upload_id: str,
    viewer: DatasetViewerDep,
    datasets: DatasetsDep,
    session_id: str | None = SESSION,
) -> DatasetDeleted:
    """Delete the upload: its stored file, profile and preview."""
    await datasets.delete(upload_id, viewer)
    return DatasetDeleted(id=upload_id, deleted=True)

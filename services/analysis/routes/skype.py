"""Skype Parser exports and analyses (spec/skype-parser-api.md): errors as ``{"error": ...}``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from services.analysis.dependencies import ExportsDep, ViewerDep
from services.analysis.schemas import DeletedExport, ExportSummary
from services.analysis.service.exports import export_summary

router = APIRouter(tags=["Skype: analysis"])
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "Export not found (or another tenant's, or still processing)"}
}


@router.get("/api/exports", response_model=list[ExportSummary])
async def list_exports(viewer: ViewerDep, exports: ExportsDep) -> list[dict[str, Any]]:
    """The caller's exports, newest first, with their counts."""
    return [export_summary(export) for export in await exports.list(viewer)]


@router.get("/api/analysis/{export_id}", responses=NOT_FOUND)
async def get_analysis(export_id: int, viewer: ViewerDep, exports: ExportsDep) -> dict[str, Any]:
    """The analysis of a completed export: ``message_count``, ``conversation_count``,
    ``date_range``, ``top_contacts`` and the rest of the analysis document."""
    return await exports.analysis(export_id, viewer)


# The report holds user content: escaped by the renderer, and nothing it could smuggle
# in may run or load anything (inline styles and data: images are all it uses).
REPORT_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@router.get(
    "/api/report/{export_id}",
    response_class=HTMLResponse,
    responses={**NOT_FOUND, 200: {"content": {"text/html": {}}, "description": "HTML report"}},
)
async def get_report(export_id: int, viewer: ViewerDep, exports: ExportsDep) -> HTMLResponse:
    """One self-contained HTML page: activity over time, the hour-of-week heatmap, top
    contacts, message types and response times (no external script, style, font or image)."""
    return HTMLResponse(await exports.report(export_id, viewer), headers=REPORT_HEADERS)


@router.delete("/api/exports/{export_id}", response_model=DeletedExport, responses=NOT_FOUND)
async def delete_export(export_id: int, viewer: ViewerDep, exports: ExportsDep) -> DeletedExport:
    """Delete an export: its messages, conversations, analysis, report and stored files."""
    await exports.delete(export_id, viewer)
    return DeletedExport(export_id=export_id, deleted=True)

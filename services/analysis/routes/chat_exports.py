"""Chat exports (spec/chat-export-api.md): errors as ``{"error_code", "message"}``.

- ``POST /client/export/chats``: the export made and kept (``export_id``,
  ``download_url``) for ``ANALYSIS_EXPORT_TTL_SECONDS``.
- ``GET /client/export/chats/download``: the same parameters as a query string; the
  file streams while it is made.
- ``GET /client/export/chats/{export_id}`` and ``.../download``: a kept export.
- ``GET /client/export/audit``: the audit log (administrators).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from starlette.types import Send

from services.analysis.dependencies import ChatExportsDep, RequesterDep, SettingsDep
from services.analysis.routes.json_body import read_json
from services.analysis.schemas import (
    ChatExportAuditPage,
    ChatExportCreated,
    ChatExportInfo,
    ChatExportRequest,
)
from services.analysis.service.chat_exports import Download, content_disposition
from services.analysis.service.export_params import parse_export_params

router = APIRouter(tags=["Export: chat exports"])
MAX_REQUEST_BYTES = 64 * 1024
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "invalid_request (a bad format, date, limit or field)"},
    401: {"description": "unauthorized: no credentials"},
    403: {"description": "The credential lacks the export permission, or asked for full IPs"},
    404: {"description": "Another tenant's client_id (as if it did not exist)"},
    429: {"description": "10 exports a minute per user, 100 an hour per client"},
    503: {"description": "export_failed: the database or the file store failed"},
}
FILE_TYPES: dict[str, dict[str, Any]] = {
    "application/json": {},
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {},
    "application/zip": {},
}


class ExportStream(StreamingResponse):
    """A streamed file whose generator is always closed, even when the client goes
    away mid-way (the export's transaction and audit record are settled then)."""

    async def stream_response(self, send: Send) -> None:
        try:
            await super().stream_response(send)
        finally:
            close = getattr(self.body_iterator, "aclose", None)
            if close is not None:
                with anyio.CancelScope(shield=True):
                    await close()


def _file(download: Download, extra: dict[str, str] | None = None) -> ExportStream:
    headers = {
        "Content-Disposition": content_disposition(download.filename),
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
        **(extra or {}),
    }
    if download.size is not None:
        headers["Content-Length"] = str(download.size)
    body: AsyncIterator[bytes] = download.body
    return ExportStream(body, media_type=download.media_type, headers=headers)


@router.post(
    "/client/export/chats",
    response_model=ChatExportCreated,
    responses=ERRORS,
    openapi_extra={
        "requestBody": {
            "content": {"application/json": {"schema": ChatExportRequest.model_json_schema()}}
        }
    },
)
async def create_export(
    request: Request, requester: RequesterDep, exports: ChatExportsDep, settings: SettingsDep
) -> dict[str, Any]:
    """Export chat messages (`format` json, excel or both) and keep the file: the
    answer has the spec's `success`, `message`, `file_size`, `record_count`, plus
    `export_id` and `download_url` (valid until `expires_at`)."""
    raw = await read_json(request, MAX_REQUEST_BYTES, what="export request")
    params = parse_export_params(raw, max_limit=settings.export_max_limit)
    return await exports.create(requester, params)


@router.get(
    "/client/export/chats/download",
    response_class=ExportStream,
    responses={**ERRORS, 200: {"content": FILE_TYPES, "description": "The file"}},
)
async def download_export(
    request: Request,
    requester: RequesterDep,
    exports: ChatExportsDep,
    settings: SettingsDep,
    format: str = Query("json", description="json, excel or both (a ZIP of the two)"),
    date_from: str | None = Query(None, description="YYYY-MM-DD or an ISO 8601 date-time"),
    date_to: str | None = Query(None, description="YYYY-MM-DD (that day) or a date-time"),
    client_id: str | None = Query(None, description="Admins: any tenant; users: their own"),
    conversation_id: str | None = Query(None),
    limit: str | None = Query(None, description="At most this many messages (10000)"),
    include_geo: str | None = Query(None, description="true or false (false)"),
    include_meta: str | None = Query(None, description="true or false (false)"),
    include_full_ip: str | None = Query(None, description="Admins only: IPs as recorded"),
) -> ExportStream:
    """The export as a file download, streamed while it is made (`Content-Disposition`
    names it; `X-Export-Records` says how many messages it holds)."""
    params = parse_export_params(
        dict(request.query_params), max_limit=settings.export_max_limit, from_query=True
    )
    download = await exports.download(requester, params)
    count = download.record_count
    return _file(download, {"X-Export-Records": str(count)} if count is not None else None)


@router.get(
    "/client/export/audit",
    response_model=ChatExportAuditPage,
    responses={403: {"description": "Administrators only"}, 401: ERRORS[401]},
)
async def audit_log(
    requester: RequesterDep,
    exports: ChatExportsDep,
    limit: int = Query(100, ge=1, le=500),
    offset: int = Query(0, ge=0),
    user_id: str | None = Query(None),
    client_id: str | None = Query(None, description="The requesting user's tenant"),
    outcome: str | None = Query(None, description="started, completed, failed, aborted or denied"),
) -> dict[str, Any]:
    """Every export asked for, newest first: who, when, the filters, the format, the
    outcome, the record count and size."""
    entries = await exports.audit_log(
        requester, limit=limit, offset=offset, user_id=user_id, client_id=client_id, outcome=outcome
    )
    return {"entries": entries, "limit": limit, "offset": offset}


@router.get(
    "/client/export/chats/{export_id}",
    response_model=ChatExportInfo,
    responses={404: {"description": "No such export, another user's, or expired"}},
)
async def export_info(
    export_id: str, requester: RequesterDep, exports: ChatExportsDep
) -> dict[str, Any]:
    """A kept export: its size, record count and when it expires."""
    return await exports.kept_info(requester, export_id)


@router.get(
    "/client/export/chats/{export_id}/download",
    response_class=ExportStream,
    responses={
        200: {"content": FILE_TYPES, "description": "The kept file"},
        404: {"description": "No such export, another user's, or expired"},
    },
)
async def download_kept(
    export_id: str, requester: RequesterDep, exports: ChatExportsDep
) -> ExportStream:
    """The file a `POST /client/export/chats` made, while it is kept."""
    return _file(await exports.download_kept(requester, export_id))

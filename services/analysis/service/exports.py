"""A caller's Skype exports: list, analysis, report, deletion.

Tenancy: an export is visible to its tenant (``client_id``) and to admins; any other
caller gets 404, as for an export that does not exist.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from services.analysis.errors import DeletionUnavailable, ExportNotFound, ExportNotReady
from services.analysis.models import SkypeExport
from services.analysis.reports.skype import render_skype_report
from services.analysis.repository import AnalysisRepository
from services.analysis.service.skype_loading import delete_prefix
from shared.identity import Principal
from shared.log import get_logger

log = get_logger("services.analysis.exports")


@dataclass(frozen=True)
class Viewer:
    client_id: str | None
    is_admin: bool

    @classmethod
    def of(cls, principal: Principal) -> Viewer:
        return cls(client_id=principal.client_id, is_admin=principal.is_admin)

    def may_see(self, export: SkypeExport) -> bool:
        return self.is_admin or (
            export.client_id is not None and export.client_id == self.client_id
        )


def export_summary(export: SkypeExport) -> dict[str, Any]:
    """One row of ``GET /api/exports`` (the spec's fields, then ours)."""
    return {
        "export_id": export.export_id,
        "user_id": export.skype_user_id,
        "export_date": export.export_date,
        "conversation_count": export.conversation_count,
        "message_count": export.message_count,
        "status": "completed" if export.status == "ready" else "processing",
        "filename": export.filename,
        "user_display_name": export.user_display_name,
        "task_id": str(export.job_id),
        "created_at": export.created_at,
        "completed_at": export.completed_at,
    }


class ExportService:
    def __init__(
        self,
        session: AsyncSession,
        *,
        s3: Any = None,
        http: httpx.AsyncClient | None = None,
        ingest_url: str = "",
        internal_token: str = "",
    ) -> None:
        self.session = session
        self.repo = AnalysisRepository(session)
        self._s3 = s3
        self._http = http
        self._ingest_url = ingest_url
        self._internal_token = internal_token

    async def list(self, viewer: Viewer) -> Sequence[SkypeExport]:
        """The caller's (tenant's) exports, newest first."""
        return await self.repo.list_exports(viewer.client_id)

    async def get(self, export_id: int, viewer: Viewer, *, for_update: bool = False) -> SkypeExport:
        export = await self.repo.get_export(export_id, for_update=for_update)
        if export is None or export.status == "deleted" or not viewer.may_see(export):
            raise ExportNotFound()
        return export

    async def ready(self, export_id: int, viewer: Viewer) -> SkypeExport:
        export = await self.get(export_id, viewer)
        if export.status != "ready" or export.analysis is None:
            raise ExportNotReady()
        return export

    async def analysis(self, export_id: int, viewer: Viewer) -> dict[str, Any]:
        """The analysis document, with the export's identity first."""
        export = await self.ready(export_id, viewer)
        document = dict(export.analysis or {})
        return {
            "export_id": export.export_id,
            "user_id": export.skype_user_id,
            "export_date": export.export_date.isoformat() if export.export_date else None,
            **document,
        }

    async def report(self, export_id: int, viewer: Viewer) -> str:
        """The export's HTML report (skypelib's renderer, off the event loop)."""
        export = await self.ready(export_id, viewer)
        document = dict(export.analysis or {})
        title = f"Skype export {export.export_id}"
        if export.user_display_name:
            title += f" of {export.user_display_name}"
        return await asyncio.to_thread(render_skype_report, document, title=title)

    async def delete(self, export_id: int, viewer: Viewer) -> None:
        """Remove the export's messages, conversations, analysis and objects (its
        upload and the worker's artifacts). The upload goes first (through ingest): if
        that fails, nothing is removed and the caller may try again."""
        export = await self.get(export_id, viewer, for_update=True)
        if export.file_id is not None:
            await self._delete_upload(export.file_id)
        if export.bucket and self._s3 is not None:
            try:
                await delete_prefix(self._s3, export.bucket, f"artifacts/{export.job_id}/")
            except Exception as exc:
                log.error("export_artifacts_not_deleted", export_id=export_id, error=repr(exc))
                raise DeletionUnavailable() from exc
        await self.repo.delete_export_data(export.export_id)
        # A tombstone: a job still loading this export finds it deleted and stops.
        export.status = "deleted"
        export.deleted_at = datetime.now(UTC)
        export.analysis = None
        export.result = None
        export.filename = None
        export.user_display_name = None
        export.skype_user_id = None
        export.sha256 = None
        export.message_count = 0
        export.conversation_count = 0
        await self.session.commit()

    async def _delete_upload(self, file_id: int) -> None:
        assert self._http is not None
        try:
            response = await self._http.delete(
                f"{self._ingest_url}/internal/files/{file_id}",
                headers={"X-Internal-Token": self._internal_token},
            )
        except httpx.HTTPError as exc:
            log.error("upload_not_deleted", file_id=file_id, error=repr(exc))
            raise DeletionUnavailable() from exc
        if response.status_code != 200:
            log.error("upload_not_deleted", file_id=file_id, status=response.status_code)
            raise DeletionUnavailable()

"""Chat exports (the Export spec): who may export what, the export itself, kept files,
the audit log.

**Scope.** Exporting needs the ``export`` permission. An administrator (role admin
with the ``admin`` permission) may export any tenant (``client_id``) or every tenant
(no ``client_id``) and may ask for IP addresses as recorded (``include_full_ip``);
anyone else exports their own tenant only: another ``client_id`` answers 404, as for a
tenant that does not exist, and ``include_full_ip`` answers 403. IP addresses are
anonymised otherwise (IPv4: last octet zeroed; IPv6: last 80 bits zeroed).

**The export** (:class:`PreparedExport`). One READ ONLY, REPEATABLE READ transaction:
the rows' count and time extent first (``export_info`` needs them), then the rows from
a server-side cursor in batches, each formatted off the event loop
(:mod:`services.analysis.service.export_formats`) and handed on at once, then the
summary aggregated by SQL over exactly those rows. Memory holds about two batches.
Everything up to the first byte happens before a download's response starts, so a
store that fails then is a clean ``export_failed``; a failure mid-stream ends the
transfer (the client sees it truncated) and is logged and audited.

**Kept files.** ``POST /client/export/chats`` streams the same bytes into an S3
object (multipart) and keeps it ``ANALYSIS_EXPORT_TTL_SECONDS``; a sweep removes
expired ones. A kept file is downloadable by whoever asked for it and by admins.

**Audit.** Every export asked for is recorded (``chat_export_audit``): who, when, the
filters, the format, then the outcome with the record count and size; refusals of
scope (404/403) too. Administrators read it (``GET /client/export/audit``).
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.analysis.errors import ChatExportNotFound, ClientNotFound, ExportFailed
from services.analysis.models import ChatExport, ChatExportAudit
from services.analysis.repository import DATABASE_ERRORS, AnalysisRepository, ChatSelection
from services.analysis.service.export_formats import ExportLayout, ExportSummary, writer_for
from services.analysis.service.export_params import ExportParams
from services.analysis.service.object_upload import StoredObject, ensure_bucket, upload_stream
from services.analysis.settings import AnalysisSettings
from shared.errors import Forbidden, QuarryError
from shared.identity import Principal
from shared.log import get_logger

log = get_logger("services.analysis.chat_exports")

DATABASE_FAILURE = "Failed to export chats: database connection error"
STORE_FAILURE = "Failed to export chats: the file store is unavailable"
_STEM_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
DOWNLOAD_PATH = "/client/export/chats/{export_id}/download"


@dataclass(frozen=True, slots=True)
class Requester:
    user_id: str
    username: str
    role: str
    client_id: str | None
    is_admin: bool
    request_id: str | None = None

    @classmethod
    def of(cls, principal: Principal, request_id: str | None) -> Requester:
        if not principal.has_scope("export"):
            raise Forbidden("This credential may not export chats (the export permission)")
        return cls(
            user_id=principal.user_id,
            username=principal.username,
            role=principal.role.value,
            client_id=principal.client_id or None,
            is_admin=principal.is_admin and principal.has_scope("admin"),
            request_id=request_id,
        )


@dataclass(frozen=True, slots=True)
class Scope:
    client_id: str | None  # None: every tenant (administrators only)
    full_ip: bool


@dataclass
class Download:
    """What a route needs to answer with a file."""

    filename: str
    media_type: str
    body: AsyncIterator[bytes]
    size: int | None = None
    record_count: int | None = None


def content_disposition(filename: str) -> str:
    return f'attachment; filename="{filename}"'


def _stem(scope: Scope, at: datetime) -> str:
    who = _STEM_UNSAFE.sub("-", scope.client_id)[:40] if scope.client_id else "all"
    return f"chat_export_{who}_{at.strftime('%Y%m%d_%H%M%S')}"


def _requested_range(params: ExportParams, first: datetime | None, last: datetime | None) -> str:
    start = params.since.date() if params.since else (first.date() if first else None)
    end_at = params.before - timedelta(microseconds=1) if params.before else last
    end = end_at.date() if end_at else None
    if start is None and end is None:
        return ""
    return f"{start.isoformat() if start else '…'} to {end.isoformat() if end else '…'}"


class PreparedExport:
    """An export whose first byte is ready: :meth:`chunks` yields the file."""

    def __init__(
        self,
        service: ChatExportService,
        session: AsyncSession,
        selection: ChatSelection,
        writer: Any,
        info: dict[str, Any],
        audit_id: int,
        filename: str,
    ) -> None:
        self._service = service
        self._session = session
        self._repo = AnalysisRepository(session)
        self._selection = selection
        self._writer = writer
        self.info = info
        self.audit_id = audit_id
        self.filename = filename
        self.media_type: str = writer.media_type
        self.record_count = 0
        self.size = 0
        self.outcome = "started"
        self.error: str | None = None

    async def chunks(self) -> AsyncGenerator[bytes, None]:
        batch = self._service.settings.export_batch_rows
        try:
            yield self._count(self._writer.head())
            async for rows in self._repo.stream_chat_export(self._selection, batch):
                self.record_count += len(rows)
                data = await asyncio.to_thread(self._writer.add, rows)
                if data:
                    yield self._count(data)
            figures = await self._repo.chat_export_summary(self._selection)
            summary = ExportSummary(
                total_messages=figures["total"],
                total_tokens=figures["tokens"],
                unique_users=figures["users"],
                first=figures["first"],
                last=figures["last"],
                top_countries=figures["countries"],
                top_isps=figures["isps"],
                ip_types=figures["ip_types"],
                conversations=figures["conversations"],
                longest_conversation=figures["longest"],
            )
            if summary.total_messages != self.record_count:
                log.warning(
                    "chat_export_count_mismatch",
                    streamed=self.record_count,
                    summarised=summary.total_messages,
                )
            pieces = self._writer.finish(summary)
            while (piece := await asyncio.to_thread(next, pieces, None)) is not None:
                if piece:
                    yield self._count(piece)
            self.outcome = "completed"
        except (GeneratorExit, asyncio.CancelledError):
            self.outcome = "aborted"
            raise
        except DATABASE_ERRORS as exc:
            self.outcome, self.error = "failed", DATABASE_FAILURE
            log.error("chat_export_failed", error=repr(exc), audit_id=self.audit_id)
            raise ExportFailed(DATABASE_FAILURE) from exc
        except Exception as exc:
            self.outcome, self.error = "failed", f"{type(exc).__name__}"
            log.exception("chat_export_failed", audit_id=self.audit_id)
            raise ExportFailed() from exc
        finally:
            discard = getattr(self._writer, "discard", None)
            if discard is not None:
                discard()
            await self._close()

    async def abandon(self) -> None:
        """Release an export that will not be streamed."""
        self.outcome = "failed"
        await self._close()

    def _count(self, data: bytes) -> bytes:
        self.size += len(data)
        return data

    async def _close(self) -> None:
        try:
            await self._session.close()
        except Exception as exc:  # a broken connection: the pool drops it
            log.warning("chat_export_session_close_failed", error=repr(exc))
        await self._service.finish_audit(
            self.audit_id,
            outcome=self.outcome,
            error=self.error,
            record_count=self.record_count,
            file_size=self.size,
        )


@dataclass
class ChatExportService:
    sessions: async_sessionmaker[AsyncSession]
    s3: Any
    settings: AnalysisSettings
    _bucket_ready: bool = field(default=False, init=False)

    # --- scope ---

    async def scope(self, requester: Requester, params: ExportParams, action: str) -> Scope:
        """What ``requester`` may export of what ``params`` ask (refusals are audited)."""
        if requester.is_admin:
            return Scope(client_id=params.client_id, full_ip=params.include_full_ip)
        refusal: QuarryError | None = None
        if params.client_id is not None and params.client_id != requester.client_id:
            refusal = ClientNotFound()
        elif params.include_full_ip:
            refusal = Forbidden("Full IP addresses are available to administrators only")
        elif requester.client_id is None:
            refusal = ClientNotFound()
        if refusal is not None:
            await self._audit(requester, action, params, outcome="denied", error=refusal.message)
            raise refusal
        return Scope(client_id=requester.client_id, full_ip=False)

    # --- the export ---

    async def prepare(
        self, requester: Requester, params: ExportParams, action: str, scope: Scope | None = None
    ) -> PreparedExport:
        if scope is None:
            scope = await self.scope(requester, params, action)
        audit_id = await self._audit(requester, action, params, outcome="started")
        session = self.sessions()
        try:
            repo = AnalysisRepository(session)
            await repo.begin_export_snapshot()
            await repo.limit_export_waits(
                self.settings.export_lock_timeout_seconds, self.settings.export_idle_seconds
            )
            loaded = await repo.ready_skype_exports(scope.client_id)
            selection = ChatSelection(
                client_id=scope.client_id,
                conversation_id=params.conversation_id,
                since=params.since,
                before=params.before,
                limit=params.limit,
                full_ip=scope.full_ip,
                skype_exports=tuple(sorted(loaded)),
            )
            count, first, last = await repo.chat_export_extent(selection)
        except DATABASE_ERRORS as exc:
            await session.close()
            log.error("chat_export_failed", error=repr(exc), audit_id=audit_id)
            await self.finish_audit(audit_id, outcome="failed", error=DATABASE_FAILURE)
            raise ExportFailed(DATABASE_FAILURE) from exc
        now = datetime.now(UTC)
        info = {
            "export_date": now,
            "total_records": count,
            "date_range": _requested_range(params, first, last),
            "client_id": scope.client_id,
            "format": params.format,
            "include_geo": params.include_geo,
            "include_meta": params.include_meta,
        }
        layout = ExportLayout(params.include_geo, params.include_meta, loaded)
        stem = _stem(scope, now)
        writer = writer_for(params.format, info, layout, stem)
        return PreparedExport(
            self, session, selection, writer, info, audit_id, f"{stem}.{writer.extension}"
        )

    async def download(self, requester: Requester, params: ExportParams) -> Download:
        """``GET /client/export/chats/download``: the file, streamed as it is made."""
        prepared = await self.prepare(requester, params, "download")
        return Download(
            prepared.filename,
            prepared.media_type,
            prepared.chunks(),
            record_count=prepared.info["total_records"],
        )

    async def create(self, requester: Requester, params: ExportParams) -> dict[str, Any]:
        """``POST /client/export/chats``: the file made into S3 and kept for a while."""
        scope = await self.scope(requester, params, "post")
        try:
            await self._ensure_bucket()
        except ExportFailed as exc:
            await self._audit(requester, "post", params, outcome="failed", error=exc.message)
            raise
        prepared = await self.prepare(requester, params, "post", scope)
        export_id = uuid.uuid4()
        now = datetime.now(UTC)
        scope_client = prepared.info["client_id"]
        key = f"chat-exports/{requester.client_id or 'none'}/{export_id}/{prepared.filename}"
        row = ChatExport(
            id=export_id,
            requested_by=requester.user_id,
            requester_client_id=requester.client_id,
            client_id=scope_client,
            format=params.format,
            params=params.filters(),
            status="building",
            bucket=self.settings.exports_bucket,
            key=key,
            filename=prepared.filename,
            content_type=prepared.media_type,
            created_at=now,
            expires_at=now + timedelta(seconds=self.settings.export_ttl_seconds),
        )
        try:
            async with self.sessions() as session:
                await AnalysisRepository(session).add_chat_export(row)
                await session.commit()
        except DATABASE_ERRORS as exc:
            await prepared.abandon()
            raise ExportFailed(DATABASE_FAILURE) from exc
        chunks = prepared.chunks()
        try:
            stored = await upload_stream(
                self.s3,
                row.bucket,
                key,
                chunks,
                content_type=prepared.media_type,
                content_disposition=content_disposition(prepared.filename),
                part_bytes=self.settings.export_part_bytes,
            )
        except ExportFailed:
            await self._settle(export_id, None, None)
            raise
        except Exception as exc:
            log.error("chat_export_store_failed", error=repr(exc), export_id=str(export_id))
            await self._settle(export_id, None, None)
            await self.finish_audit(prepared.audit_id, outcome="failed", error=STORE_FAILURE)
            raise ExportFailed(STORE_FAILURE) from exc
        finally:
            await chunks.aclose()
        await self._settle(export_id, stored, prepared.record_count)
        await self.finish_audit(prepared.audit_id, export_id=export_id)
        return {
            "success": True,
            "message": "Export generated successfully",
            "file_size": stored.size,
            "record_count": prepared.record_count,
            "export_id": str(export_id),
            "download_url": DOWNLOAD_PATH.format(export_id=export_id),
            "filename": prepared.filename,
            "format": params.format,
            "expires_at": row.expires_at,
        }

    async def _settle(
        self, export_id: uuid.UUID, stored: StoredObject | None, record_count: int | None
    ) -> None:
        async with self.sessions() as session:
            row = await AnalysisRepository(session).get_chat_export(export_id, for_update=True)
            if row is None:
                return
            if stored is None:
                row.status = "failed"
            else:
                row.status = "ready"
                row.file_size = stored.size
                row.record_count = record_count
            row.completed_at = datetime.now(UTC)
            await session.commit()

    async def _ensure_bucket(self) -> None:
        if self._bucket_ready:
            return
        try:
            await ensure_bucket(self.s3, self.settings.exports_bucket)
        except Exception as exc:
            log.error("chat_export_bucket_unavailable", error=repr(exc))
            raise ExportFailed(STORE_FAILURE) from exc
        self._bucket_ready = True

    # --- kept files ---

    async def _kept(self, requester: Requester, export_id: str) -> ChatExport:
        try:
            key = uuid.UUID(export_id)
        except ValueError:
            raise ChatExportNotFound() from None
        async with self.sessions() as session:
            row = await AnalysisRepository(session).get_chat_export(key)
        if row is None or not (requester.is_admin or row.requested_by == requester.user_id):
            raise ChatExportNotFound()
        if row.status != "ready" or row.expires_at <= datetime.now(UTC):
            raise ChatExportNotFound()
        return row

    async def kept_info(self, requester: Requester, export_id: str) -> dict[str, Any]:
        row = await self._kept(requester, export_id)
        return {
            "export_id": str(row.id),
            "status": row.status,
            "format": row.format,
            "filename": row.filename,
            "file_size": row.file_size,
            "record_count": row.record_count,
            "created_at": row.created_at,
            "expires_at": row.expires_at,
            "download_url": DOWNLOAD_PATH.format(export_id=row.id),
        }

    async def download_kept(self, requester: Requester, export_id: str) -> Download:
        row = await self._kept(requester, export_id)
        try:
            answer = await self.s3.get_object(Bucket=row.bucket, Key=row.key)
        except Exception as exc:
            log.error("chat_export_object_unreadable", error=repr(exc), export_id=export_id)
            raise ExportFailed(STORE_FAILURE) from exc
        await self._audit(
            requester,
            "download_kept",
            None,
            outcome="completed",
            filters=row.params,
            fmt=row.format,
            record_count=row.record_count,
            file_size=row.file_size,
            export_id=row.id,
        )

        async def body() -> AsyncIterator[bytes]:
            stream = answer["Body"]
            try:
                async for piece in stream.iter_chunks(1024 * 1024):
                    yield piece
            finally:
                stream.close()

        return Download(row.filename, row.content_type, body(), size=row.file_size)

    async def expire(self, now: datetime, limit: int = 100) -> int:
        """Remove kept files past their time (objects first, then the rows say so)."""
        removed = 0
        async with self.sessions() as session:
            rows = await AnalysisRepository(session).expired_chat_exports(now, limit)
            for row in rows:
                try:
                    await self.s3.delete_object(Bucket=row.bucket, Key=row.key)
                except Exception as exc:
                    log.warning("chat_export_object_not_deleted", error=repr(exc), key=row.key)
                    continue
                row.status = "expired"
                removed += 1
            await session.commit()
        return removed

    # --- the audit log ---

    async def _audit(
        self,
        requester: Requester,
        action: str,
        params: ExportParams | None,
        *,
        outcome: str,
        error: str | None = None,
        filters: dict[str, Any] | None = None,
        fmt: str | None = None,
        record_count: int | None = None,
        file_size: int | None = None,
        export_id: uuid.UUID | None = None,
    ) -> int:
        finished = outcome not in ("started",)
        entry = ChatExportAudit(
            request_id=requester.request_id,
            user_id=requester.user_id,
            username=requester.username,
            role=requester.role,
            requester_client_id=requester.client_id,
            action=action,
            format=params.format if params is not None else fmt,
            filters=params.filters() if params is not None else dict(filters or {}),
            outcome=outcome,
            error=error,
            record_count=record_count,
            file_size=file_size,
            export_id=export_id,
            finished_at=datetime.now(UTC) if finished else None,
        )
        try:
            async with self.sessions() as session:
                await AnalysisRepository(session).add_audit(entry)
                await session.commit()
        except DATABASE_ERRORS as exc:
            # No export without its audit record.
            log.error("chat_export_audit_failed", error=repr(exc))
            raise ExportFailed(DATABASE_FAILURE) from exc
        return entry.id

    async def finish_audit(
        self,
        audit_id: int,
        *,
        outcome: str | None = None,
        error: str | None = None,
        record_count: int | None = None,
        file_size: int | None = None,
        export_id: uuid.UUID | None = None,
    ) -> None:
        try:
            async with self.sessions() as session:
                entry = await AnalysisRepository(session).get_audit(audit_id)
                if entry is None:
                    return
                if outcome is not None:
                    entry.outcome = outcome
                if error is not None:
                    entry.error = error
                if record_count is not None:
                    entry.record_count = record_count
                if file_size is not None:
                    entry.file_size = file_size
                if export_id is not None:
                    entry.export_id = export_id
                entry.finished_at = datetime.now(UTC)
                await session.commit()
        except Exception as exc:
            log.error("chat_export_audit_not_finished", audit_id=audit_id, error=repr(exc))

    async def audit_log(
        self,
        requester: Requester,
        *,
        limit: int,
        offset: int,
        user_id: str | None,
        client_id: str | None,
        outcome: str | None,
    ) -> list[dict[str, Any]]:
        if not requester.is_admin:
            raise Forbidden("The export audit log is for administrators")
        async with self.sessions() as session:
            rows: Sequence[ChatExportAudit] = await AnalysisRepository(session).list_audit(
                limit=limit, offset=offset, user_id=user_id, client_id=client_id, outcome=outcome
            )
        return [
            {
                "id": row.id,
                "at": row.at,
                "request_id": row.request_id,
                "user_id": row.user_id,
                "username": row.username,
                "role": row.role,
                "requester_client_id": row.requester_client_id,
                "action": row.action,
                "format": row.format,
                "filters": row.filters,
                "outcome": row.outcome,
                "error": row.error,
                "record_count": row.record_count,
                "file_size": row.file_size,
                "export_id": str(row.export_id) if row.export_id else None,
                "finished_at": row.finished_at,
            }
            for row in rows
        ]


async def run_expiry(service: ChatExportService, interval: float) -> None:
    """The sweep of kept export files, for the service's whole life."""
    while True:
        await asyncio.sleep(interval)
        try:
            removed = await service.expire(datetime.now(UTC))
            if removed:
                log.info("chat_exports_expired", removed=removed)
        except Exception as exc:
            log.warning("chat_export_expiry_failed", error=repr(exc))

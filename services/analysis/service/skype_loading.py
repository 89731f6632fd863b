"""The worker's Skype webhooks to analysis: an export loaded exactly once.

- ``skype.export.open`` → ``{"export_id", "status"}``: the export of the job, created
  on its first attempt (``ON CONFLICT (job_id)``), so every attempt loads into the same
  export; a ready export also answers the ``result`` of the attempt that finished it.
- ``skype.export.chunk`` ``{export_id, chunk, first_seq, rows, csv_base64}`` (the CSV
  rows inline) or ``{..., bucket, key}`` (a CSV object, for a chunk too large for a
  webhook) → COPY
  into ``skype_messages`` in one transaction with its chunk record. A
  chunk already in (same range) is skipped; a different range replaces it and every
  later chunk. The primary key (export_id, seq) makes a second copy impossible anyway.
- ``skype.export.complete`` ``{export_id, header, conversations, message_count,
  analysis}`` → checks that the chunks hold exactly ``message_count`` rows, COPYs the
  conversations, stores the analysis document, marks the export ready.

Events are applied once by event id (``webhook_events``); a deleted export answers
``{"status": "deleted"}`` and nothing is stored for it.
"""

from __future__ import annotations

import base64
import binascii
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.analysis.errors import ExportNotFound, LoadIncomplete
from services.analysis.models import SkypeExport, SkypeExportChunk
from services.analysis.repository import AnalysisRepository
from shared.errors import BadRequest, NotFound
from shared.log import get_logger
from shared.webhook_receiver import SignedEvent

log = get_logger("services.analysis.skype_loading")

# The worker's COPY files (services/ingest/worker/bulk_rows.py, the same order).
MESSAGE_COLUMNS = (
    "export_id",
    "seq",
    "client_id",
    "conversation_id",
    "message_id",
    "sender_id",
    "sender_name",
    "sent_at",
    "edited_at",
    "category",
    "raw_type",
    "content",
    "deleted",
    "call_duration_s",
    "call_event",
    "media_name",
    "media_size",
    "quote_of",
    "edit_of",
    "mentions",
)
MESSAGE_NOT_NULL_TEXT = (
    "conversation_id",
    "message_id",
    "sender_id",
    "category",
    "raw_type",
    "content",
)
CONVERSATION_COLUMNS = (
    "export_id",
    "conversation_id",
    "name",
    "kind",
    "participants",
    "message_count",
)
CONVERSATION_NOT_NULL_TEXT = ("conversation_id", "name", "kind")
STREAM_CHUNK = 1024 * 1024

Apply = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


def _int(payload: dict[str, Any], name: str) -> int:
    try:
        return int(payload[name])
    except (KeyError, TypeError, ValueError):
        raise BadRequest(f"{name} must be an integer") from None


def _text(value: Any, limit: int) -> str | None:
    if value is None:
        return None
    return str(value).replace("\x00", "")[:limit] or None


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class SkypeLoading:
    def __init__(self, session: AsyncSession, s3: Any) -> None:
        self.session = session
        self.repo = AnalysisRepository(session)
        self._s3 = s3
        self._topics: dict[str, Apply] = {
            "skype.export.open": self._open,
            "skype.export.chunk": self._chunk,
            "skype.export.complete": self._complete,
        }

    async def apply(self, event: SignedEvent) -> dict[str, Any]:
        handler = self._topics.get(event.topic)
        if handler is None:
            raise NotFound(f"Unknown webhook topic {event.topic!r}")
        seen = await self.repo.event_response(event.event_id)
        if seen is not None:
            await self.session.rollback()
            return seen
        response = await handler(event.payload)
        if not await self.repo.record_event(event.event_id, event.topic, response):
            await self.session.rollback()
            return await self.repo.event_response(event.event_id) or response
        await self.session.commit()
        if event.topic == "skype.export.complete" and response.get("status") == "ready":
            # The COPY chunks are loaded: the worker's artifacts are no longer needed.
            await remove_artifacts(self._s3, event.payload)
        return response

    async def _locked_export(self, payload: dict[str, Any]) -> SkypeExport:
        export = await self.repo.get_export(_int(payload, "export_id"), for_update=True)
        if export is None or str(export.job_id) != str(payload.get("job_id")):
            raise ExportNotFound()
        return export

    async def _open(self, payload: dict[str, Any]) -> dict[str, Any]:
        try:
            job_id = uuid.UUID(str(payload.get("job_id")))
        except ValueError:
            raise BadRequest("job_id must be a UUID") from None
        owner = payload.get("owner") or {}
        export = await self.repo.open_export(
            {
                "job_id": job_id,
                "file_id": payload.get("file_id"),
                "user_id": _text(owner.get("user_id"), 64),
                "client_id": _text(owner.get("client_id"), 64),
                "filename": _text(payload.get("filename"), 512),
                "user_display_name": _text(payload.get("user_display_name"), 200),
                "size": payload.get("size"),
                "sha256": _text(payload.get("sha256"), 64),
                "bucket": _text(payload.get("bucket"), 255),
                "status": "loading",
            }
        )
        answer: dict[str, Any] = {"export_id": export.export_id, "status": export.status}
        if export.status == "ready" and export.result is not None:
            answer["result"] = export.result
        return answer

    async def _chunk(self, payload: dict[str, Any]) -> dict[str, Any]:
        export = await self._locked_export(payload)
        if export.status == "deleted":
            return {"status": "deleted", "loaded": 0}
        chunk = _int(payload, "chunk")
        first_seq = _int(payload, "first_seq")
        rows = _int(payload, "rows")
        present = (await self.repo.chunks(export.export_id)).get(chunk)
        if present is not None:
            if present.first_seq == first_seq and present.rows == rows:
                return {"status": export.status, "loaded": rows, "skipped": True}
            await self.repo.drop_chunks_from(
                export.export_id, chunk, min(first_seq, present.first_seq)
            )
        started = time.perf_counter()
        inline = _inline_rows(payload)
        loaded = await self.repo.copy_csv(
            "skype_messages",
            MESSAGE_COLUMNS,
            MESSAGE_NOT_NULL_TEXT,
            _pieces(inline)
            if inline is not None
            else self._object(str(payload["bucket"]), str(payload["key"])),
        )
        del inline
        if loaded != rows:
            raise BadRequest(f"chunk {chunk} holds {loaded} rows, the worker announced {rows}")
        seconds = time.perf_counter() - started
        await self.repo.record_chunk(
            SkypeExportChunk(
                export_id=export.export_id,
                chunk=chunk,
                first_seq=first_seq,
                rows=rows,
                duration_seconds=seconds,
            )
        )
        return {"status": export.status, "loaded": loaded, "duration_seconds": round(seconds, 4)}

    async def _complete(self, payload: dict[str, Any]) -> dict[str, Any]:
        export = await self._locked_export(payload)
        if export.status == "deleted":
            return {"status": "deleted"}
        expected = _int(payload, "message_count")
        chunk_count, rows = await self.repo.loaded_rows(export.export_id)
        if rows != expected:
            raise LoadIncomplete(
                f"{rows} messages are loaded in {chunk_count} chunks, {expected} were sent"
            )
        conversations = payload.get("conversations") or {}
        analysis = payload.get("analysis")
        if not isinstance(analysis, dict):
            raise BadRequest("analysis must be a JSON object")
        started = time.perf_counter()
        await self.repo.delete_conversations(export.export_id)
        conversation_count = await self.repo.copy_csv(
            "skype_conversations",
            CONVERSATION_COLUMNS,
            CONVERSATION_NOT_NULL_TEXT,
            self._object(str(conversations["bucket"]), str(conversations["key"])),
        )
        header = payload.get("header") or {}
        skipped = payload.get("skipped") or {}
        export.skype_user_id = _text(header.get("user_id"), 500)
        export.export_date = _time(header.get("export_date"))
        export.conversation_count = conversation_count
        export.message_count = rows
        export.skipped_count = (
            sum(int(v) for v in skipped.values()) if isinstance(skipped, dict) else 0
        )
        export.analysis = analysis
        export.status = "ready"
        export.completed_at = datetime.now(UTC)
        seconds = time.perf_counter() - started
        export.result = {
            "export_id": export.export_id,
            "conversations": conversation_count,
            "message_count": rows,
        }
        return {
            "status": "ready",
            "export_id": export.export_id,
            "message_count": rows,
            "conversation_count": conversation_count,
            "duration_seconds": round(seconds, 4),
        }

    async def _object(self, bucket: str, key: str) -> AsyncIterator[bytes]:
        """An S3 object streamed (COPY consumes it as it arrives)."""
        answer = await self._s3.get_object(Bucket=bucket, Key=key)
        async for piece in answer["Body"].iter_chunks(STREAM_CHUNK):
            yield piece


def _inline_rows(payload: dict[str, Any]) -> bytes | None:
    """A chunk's rows sent in the webhook (``csv_base64``), None when it names an object."""
    encoded = payload.pop("csv_base64", None)
    if encoded is None:
        return None
    if not isinstance(encoded, str):
        raise BadRequest("csv_base64 must be a string")
    try:
        return base64.b64decode(encoded, validate=True)
    except binascii.Error:
        raise BadRequest("csv_base64 is not base64") from None


async def _pieces(data: bytes) -> AsyncIterator[bytes]:
    """Rows sent inline, fed to COPY a piece at a time."""
    view = memoryview(data)
    for start in range(0, len(data), STREAM_CHUNK):
        yield bytes(view[start : start + STREAM_CHUNK])


async def delete_prefix(s3: Any, bucket: str, prefix: str) -> int:
    """Delete every object under ``prefix``; how many there were."""
    deleted = 0
    paginator = s3.get_paginator("list_objects_v2")
    async for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if keys:
            await s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
            deleted += len(keys)
    return deleted


async def remove_artifacts(s3: Any, payload: dict[str, Any]) -> None:
    """Best effort: the worker's artifacts of a job (``artifacts/<job_id>/``)."""
    conversations = payload.get("conversations") or {}
    bucket = conversations.get("bucket")
    if not bucket:
        return
    try:
        await delete_prefix(s3, str(bucket), f"artifacts/{payload.get('job_id')}/")
    except Exception as exc:
        log.warning("artifact_cleanup_failed", job_id=payload.get("job_id"), error=repr(exc))

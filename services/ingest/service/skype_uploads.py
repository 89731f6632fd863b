"""The Skype export upload (spec/skype-parser-api.md, API.md "Size and sync/async").

One pipeline for both answers: the upload is streamed to S3 and a ``skype.parse``
job is committed with its queue message; an upload at or under the sync threshold
then waits for that same job (the one ``/api/status/{task_id}`` shows) and answers
the spec's ``ProcessingResult``; a larger one, or one that asks for the async path,
answers ``{"task_id"}`` at once. A sync wait that outlasts ``sync_wait_seconds``
answers the ``task_id`` too, rather than an error. The sync answer names its job in
the ``X-Task-ID`` header (the ``/api/status/{task_id}`` of the same job).
"""

from __future__ import annotations

import uuid
from typing import Any

from services.ingest.errors import JobFailedError, UnsupportedFileKind
from services.ingest.schemas import ProcessingResult, TaskResponse, TaskStatus
from services.ingest.service.jobs import JobSnapshot

JOB_TYPE = "skype.parse"
PURPOSE = "skype_export"
TRUE_VALUES = frozenset({"1", "true", "yes", "on"})

# Sniffed kind → the kind recorded for a Skype upload (the parser decides the rest
# from the content: a tar, possibly gzip-compressed, or a bare messages.json).
SKYPE_KINDS = {"tar": "skype_tar", "gzip": "skype_tar", "json": "skype_json"}
_DESCRIPTIONS = {
    "zip": "a ZIP archive",
    "xlsx": "an Excel workbook",
    "docx": "a Word document",
    "pdf": "a PDF document",
    "parquet": "a Parquet file",
    "csv": "a CSV file",
    "text": "a text file that is not JSON",
    "binary": "binary data",
}


def check_skype_kind(kind: str) -> None:
    """Refuse, before anything is processed, what cannot be a Skype export."""
    if kind not in SKYPE_KINDS:
        what = _DESCRIPTIONS.get(kind, f"a {kind} file")
        raise UnsupportedFileKind(
            f"Not a Skype export: expected a .tar export or a messages.json file, got {what}"
        )


def object_key(client_id: str | None, file_uuid: uuid.UUID) -> str:
    return f"uploads/skype/{client_id or 'anonymous'}/{file_uuid}"


def wants_async(query_value: str | None, form_value: str | None) -> bool:
    return any((value or "").strip().lower() in TRUE_VALUES for value in (query_value, form_value))


def job_params(fields: dict[str, str]) -> dict[str, Any]:
    display_name = (fields.get("user_display_name") or "").strip()[:200]
    return {"user_display_name": display_name or None}


def task_status(job: JobSnapshot) -> TaskStatus:
    result = job.result or {}
    export_id = result.get("export_id") if job.status == "completed" else None
    return TaskStatus(
        status=job.status,  # type: ignore[arg-type]
        progress=job.progress,
        message=job.message,
        export_id=export_id if isinstance(export_id, int) else None,
        error=job.error if job.status == "failed" else None,
        phase=job.phase,
    )


def sync_answer(job: JobSnapshot) -> ProcessingResult | TaskResponse:
    """The answer of a synchronous upload once its wait ended."""
    if job.status == "failed":
        raise JobFailedError(job.error or "Processing failed", extra={"task_id": job.id})
    if job.status != "completed":
        return TaskResponse(task_id=job.id)
    result = dict(job.result or {})
    return ProcessingResult.model_validate({"success": True, **result})

"""Skype Parser uploads and task status (spec/skype-parser-api.md): errors as ``{"error": ...}``."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response

from services.ingest.dependencies import JobsDep, PrincipalDep, RuntimeDep
from services.ingest.schemas import ProcessingResult, TaskResponse, TaskStatus
from services.ingest.service import skype_uploads
from services.ingest.service.jobs import JobSnapshot, Owner, Viewer, parse_job_id, snapshot_reader
from services.ingest.service.waiting import wait_until_final
from services.ingest.uploads.multipart import UploadLimits, receive_upload

router = APIRouter(tags=["Skype: ETL"])

UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "Skype export file (TAR or messages.json)",
                        },
                        "user_display_name": {
                            "type": "string",
                            "description": "Display name of the user",
                        },
                        "async": {
                            "type": "string",
                            "description": "'true' asks for the asynchronous path at any size",
                        },
                    },
                    "required": ["file"],
                }
            }
        },
    }
}


@router.post(
    "/api/upload",
    response_model=ProcessingResult | TaskResponse,
    response_model_exclude_none=True,
    openapi_extra=UPLOAD_BODY,
    responses={
        400: {"description": "Not a Skype export, or one that cannot be parsed (the reason)"},
        413: {"description": "File larger than the hard maximum (refused while streaming)"},
    },
)
async def upload(
    request: Request,
    response: Response,
    principal: PrincipalDep,
    jobs: JobsDep,
    runtime: RuntimeDep,
) -> ProcessingResult | TaskResponse:
    """Upload a Skype export (a ``.tar`` holding ``messages.json``, or a bare
    ``messages.json``) and process it.

    At or under the sync threshold (50 MB by default) the answer is the
    ``ProcessingResult`` once processing is done; above it, or with ``?async=true``
    (or a form field ``async=true``), ``{"task_id"}`` at once: poll
    ``/api/status/{task_id}``. Only above the hard maximum (1 GiB) is it a 413.
    """
    settings = runtime.settings
    owner = Owner.of(principal)
    file_uuid = uuid.uuid4()
    received = await receive_upload(
        request,
        runtime.s3,
        bucket=settings.bucket,
        key=skype_uploads.object_key(owner.client_id, file_uuid),
        limits=UploadLimits(
            max_file_bytes=settings.skype_max_bytes,
            part_bytes=settings.upload_part_bytes,
            parts_in_flight=settings.upload_parts_in_flight,
        ),
        accept_kind=skype_uploads.check_skype_kind,
    )
    _, job = await jobs.submit(
        received.file,
        kind=skype_uploads.SKYPE_KINDS[received.file.kind],
        purpose=skype_uploads.PURPOSE,
        job_type=skype_uploads.JOB_TYPE,
        owner=owner,
        params=skype_uploads.job_params(received.fields),
    )
    response.headers["X-Task-ID"] = str(job.id)
    asked_async = skype_uploads.wants_async(
        request.query_params.get("async"), received.fields.get("async")
    )
    if asked_async or received.file.size > settings.skype_sync_max_bytes:
        return TaskResponse(task_id=str(job.id))
    await jobs.session.close()  # hold no database connection while waiting
    final = await wait_until_final(
        runtime.events,
        str(job.id),
        snapshot_reader(runtime.sessions, runtime.events, job.id),
        is_final=lambda snapshot: snapshot.final,
        timeout=settings.sync_wait_seconds,
        reread_seconds=settings.wait_reread_seconds,
    )
    return skype_uploads.sync_answer(final)


@router.get(
    "/api/status/{task_id}",
    response_model=TaskStatus,
    response_model_exclude_none=True,
    responses={404: {"description": "Task not found"}},
)
async def task_status(task_id: str, principal: PrincipalDep, jobs: JobsDep) -> TaskStatus:
    """The state of an upload's processing: ``progress`` moves as the worker reads
    the export; ``export_id`` once completed, ``error`` (the reason) once failed."""
    job = await jobs.get_job(parse_job_id(task_id), Viewer.of(principal))
    return skype_uploads.task_status(JobSnapshot.of(job))

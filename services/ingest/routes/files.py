"""The Files spec's storage and processing routes (spec/file-processing-api.md and its
OpenAPI's shapes): ``{"detail": ...}`` errors, any credential (the ``session_id``
cookie of ``/auth/login`` included).

``/files/convert``, ``/files/parse-file`` and ``/files/tonality-analysis`` look
synchronous: a cached result answers at once; otherwise the worker does the job while
the request waits (``INGEST_FILES_WAIT_SECONDS``, shortened by ``Prefer: wait=N``);
past it the answer is 202 with ``status: "pending"`` and the job to poll
(``GET /jobs/{id}``). A document the worker cannot process answers the route's usual
status with ``status: "failed"`` and the reason in ``message``, as the Files OpenAPI
documents; a request that is wrong in itself is a 400.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response

from services.ingest.dependencies import (
    DocumentFilesDep,
    DocumentJobsDep,
    PrincipalDep,
    RuntimeDep,
)
from services.ingest.routes.jobs import prefer_wait
from services.ingest.schemas import (
    ConvertAnswer,
    ConvertRequest,
    FileMetadata,
    FileUrl,
    ParseAnswer,
    ParseRequest,
    TonalityAnswer,
    TonalityRequest,
)
from services.ingest.service import document_files as storage
from services.ingest.service.document_jobs import (
    PARSE,
    TONALITY,
    Submitted,
    check_available,
    conversion_kinds,
    require_prose,
)
from services.ingest.service.jobs import JobSnapshot, snapshot_reader
from services.ingest.service.waiting import wait_until_final
from services.ingest.uploads.multipart import UploadLimits, receive_upload
from services.ingest.uploads.storage import delete_object
from shared.heartbeat import read_capabilities

router = APIRouter(prefix="/files", tags=["Files: storage and processing"])

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
                            "description": "txt, md, html, csv, json, docx, xlsx, odt, pdf "
                            "or parquet (the kind is read from the content)",
                        }
                    },
                    "required": ["file"],
                }
            }
        },
    }
}
PREFER = Header(
    default=None,
    description="`wait=N`: wait at most N seconds for the worker (RFC 7240)",
)
PENDING: dict[int | str, dict[str, Any]] = {
    202: {"description": "Still processing: `status: pending` and the job to poll"}
}


def metadata(file: Any, runtime: Any) -> FileMetadata:
    return FileMetadata(**storage.describe(file, runtime.settings.s3_endpoint_url))


@router.post(
    "/upload",
    status_code=201,
    response_model=FileMetadata,
    openapi_extra=UPLOAD_BODY,
    responses={
        400: {"description": "No file, an empty one, or not an accepted kind (why)"},
        413: {"description": "Larger than INGEST_FILES_MAX_BYTES (refused while streaming)"},
    },
)
async def upload(
    request: Request, principal: PrincipalDep, files: DocumentFilesDep, runtime: RuntimeDep
) -> FileMetadata:
    """Store a document. Uploading the same content again answers the stored file."""
    settings = runtime.settings
    public_id = uuid.uuid4()
    received = await receive_upload(
        request,
        runtime.s3,
        bucket=settings.bucket,
        key=storage.object_key(principal.user_id, public_id),
        limits=UploadLimits(
            max_file_bytes=settings.files_max_bytes,
            part_bytes=settings.upload_part_bytes,
            parts_in_flight=settings.upload_parts_in_flight,
        ),
        accept_kind=storage.check_document_kind,
    )
    stored = received.file
    try:
        head = await storage.read_head(runtime.s3, stored.bucket, stored.key)
        kind = storage.document_kind(stored.kind, head, stored.filename)
    except Exception:
        await delete_object(runtime.s3, stored.bucket, stored.key)
        raise
    file = await files.record_upload(stored, kind, principal, public_id)
    return metadata(file, runtime)


@router.get("/storage", response_model=list[FileMetadata])
async def storage_history(
    principal: PrincipalDep,
    files: DocumentFilesDep,
    runtime: RuntimeDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
    kind: Annotated[str | None, Query(max_length=16, description="e.g. pdf, docx")] = None,
) -> list[FileMetadata]:
    """The caller's files, newest first: uploads and the results of conversions."""
    found = await files.history(principal, limit=limit, offset=offset, kind=kind)
    return [metadata(file, runtime) for file in found]


@router.get(
    "/download/{file_id}",
    response_model=FileUrl,
    responses={404: {"description": "No such file of the caller's"}},
)
async def download(
    file_id: int, principal: PrincipalDep, files: DocumentFilesDep, runtime: RuntimeDep
) -> FileUrl:
    """A presigned URL of the file, valid ``expires_in`` seconds; the download carries
    the original file name (``Content-Disposition: attachment``)."""
    file = await files.get(file_id, principal)
    expiry = runtime.settings.files_download_expiry_seconds
    return FileUrl(file_url=await files.presigned_download(file, expiry), expires_in=expiry)


@router.delete(
    "/remove/{file_id}",
    status_code=204,
    response_class=Response,
    responses={404: {"description": "No such file of the caller's"}},
)
async def remove(file_id: int, principal: PrincipalDep, files: DocumentFilesDep) -> Response:
    """Remove the file, the files converted from it, and their objects."""
    await files.remove(file_id, principal)
    return Response(status_code=204)


async def _wait(runtime: Any, jobs: Any, submitted: Submitted, prefer: str | None) -> JobSnapshot:
    assert submitted.job_id is not None
    settings = runtime.settings
    asked = prefer_wait(prefer)
    timeout = (
        settings.files_wait_seconds if asked is None else min(asked, settings.files_wait_seconds)
    )
    await jobs.session.close()  # hold no database connection while waiting
    return await wait_until_final(
        runtime.events,
        str(submitted.job_id),
        snapshot_reader(runtime.sessions, runtime.events, submitted.job_id),
        is_final=lambda snapshot: snapshot.final,
        timeout=timeout,
        reread_seconds=settings.wait_reread_seconds,
    )


def _job_fields(snapshot: JobSnapshot) -> dict[str, Any]:
    return {"job_id": snapshot.id, "job_url": f"/jobs/{snapshot.id}"}


def _pending(response: Response, snapshot: JobSnapshot) -> dict[str, Any]:
    response.status_code = 202
    response.headers["Location"] = f"/jobs/{snapshot.id}"
    response.headers["Retry-After"] = "2"
    return {
        "status": "pending",
        "message": f"Still processing; poll GET /jobs/{snapshot.id}",
        **_job_fields(snapshot),
    }


@router.post(
    "/convert",
    status_code=201,
    response_model=ConvertAnswer,
    responses={
        **PENDING,
        400: {"description": "File does not exist, or an unsupported pair (the supported ones)"},
    },
)
async def convert(
    body: ConvertRequest,
    response: Response,
    principal: PrincipalDep,
    jobs: DocumentJobsDep,
    runtime: RuntimeDep,
    prefer: str | None = PREFER,
) -> ConvertAnswer:
    """Convert a stored file; the result is a new file in the history (its
    ``source_file_id`` is the source)."""
    file = await jobs.files.resolve(body.s3_key, principal)
    source, target = conversion_kinds(file, body.format_from, body.format_to)
    check_available(await read_capabilities(runtime.redis), source, target)
    submitted = await jobs.convert(file, source, target, principal)
    if submitted.result is not None:
        return ConvertAnswer(**submitted.result, cached=submitted.cached)
    snapshot = await _wait(runtime, jobs, submitted, prefer)
    empty = {"file_url": None, "new_s3_key": None}
    if not snapshot.final:
        return ConvertAnswer(**empty, **_pending(response, snapshot))
    if snapshot.status == "failed":
        return ConvertAnswer(
            **empty, status="failed", message=snapshot.error, **_job_fields(snapshot)
        )
    derived = await jobs.converted_file(snapshot)
    if derived is None:
        return ConvertAnswer(
            **empty,
            status="failed",
            message="The converted file was removed",
            **_job_fields(snapshot),
        )
    answer = await jobs.conversion_answer(derived)
    return ConvertAnswer(**answer, **_job_fields(snapshot))


def _analysis(snapshot: JobSnapshot, s3_key: str) -> dict[str, Any]:
    result = {**(snapshot.result or {}), "s3_key": s3_key}
    result.pop("message", None)
    return {**result, **_job_fields(snapshot)}


@router.post(
    "/parse-file",
    response_model=ParseAnswer,
    responses={**PENDING, 400: {"description": "File does not exist, or has no text"}},
)
async def parse_file(
    body: ParseRequest,
    response: Response,
    principal: PrincipalDep,
    jobs: DocumentJobsDep,
    runtime: RuntimeDep,
    prefer: str | None = PREFER,
) -> ParseAnswer:
    """The sentences of the document that contain any of ``keywords`` (whole words,
    any case), with the document's top keywords (YAKE) and its language."""
    file = await jobs.files.resolve(body.s3_key, principal)
    require_prose(file)
    submitted = await jobs.analyse(file, PARSE, {"keywords": body.keywords}, principal)
    if submitted.result is not None:
        return ParseAnswer(**{**submitted.result, "s3_key": file.s3_key}, cached=True)
    snapshot = await _wait(runtime, jobs, submitted, prefer)
    empty: dict[str, Any] = {"count": 0, "sentences": [], "s3_key": file.s3_key}
    if not snapshot.final:
        return ParseAnswer(**empty, **_pending(response, snapshot))
    if snapshot.status == "failed":
        return ParseAnswer(
            **empty, status="failed", message=snapshot.error, **_job_fields(snapshot)
        )
    return ParseAnswer(**_analysis(snapshot, file.s3_key))


@router.post(
    "/tonality-analysis",
    status_code=201,
    response_model=TonalityAnswer,
    responses={**PENDING, 400: {"description": "File does not exist, or has no text"}},
)
async def tonality_analysis(
    body: TonalityRequest,
    response: Response,
    principal: PrincipalDep,
    jobs: DocumentJobsDep,
    runtime: RuntimeDep,
    prefer: str | None = PREFER,
) -> TonalityAnswer:
    """Polarity, subjectivity and objective sentiment of the document, their bands
    (docs/DESIGN.md "Documents"), and the scores of every sentence."""
    file = await jobs.files.resolve(body.s3_key, principal)
    require_prose(file)
    submitted = await jobs.analyse(file, TONALITY, {}, principal)
    if submitted.result is not None:
        return TonalityAnswer(**{**submitted.result, "s3_key": file.s3_key}, cached=True)
    snapshot = await _wait(runtime, jobs, submitted, prefer)
    if not snapshot.final:
        return TonalityAnswer(s3_key=file.s3_key, **_pending(response, snapshot))
    if snapshot.status == "failed":
        return TonalityAnswer(
            s3_key=file.s3_key, status="failed", message=snapshot.error, **_job_fields(snapshot)
        )
    return TonalityAnswer(**_analysis(snapshot, file.s3_key))

"""PyAnalypt dataset uploads (spec/pyanalypt-api.md "Upload File"): ``{"detail": ...}``
errors. The upload's status, profile, report and preview are analysis's routes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from fastapi import APIRouter, Request

from services.ingest.dependencies import JobsDep, OptionalPrincipalDep, RuntimeDep
from services.ingest.errors import GuestSessionRequired
from services.ingest.schemas import DatasetUpload
from services.ingest.service import dataset_uploads as rules
from services.ingest.service.jobs import Owner
from services.ingest.uploads.multipart import UploadLimits, receive_upload
from services.ingest.uploads.storage import delete_object

router = APIRouter(tags=["PyAnalypt: datasets"])

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
                            "description": "The dataset: CSV, Excel (.xlsx, .xls), .ods or Parquet",
                        },
                        "session_id": {
                            "type": "string",
                            "description": "Required for guests (no credentials); ignored "
                            "for authenticated users",
                        },
                    },
                    "required": ["file"],
                }
            }
        },
    }
}


@router.post(
    "/api/upload/",
    status_code=201,
    response_model=DatasetUpload,
    openapi_extra=UPLOAD_BODY,
    responses={
        400: {"description": "No file, a guest without session_id, or not a dataset (why)"},
        401: {"description": "Invalid credentials (when some were sent)"},
        413: {"description": "File larger than the dataset maximum (refused while streaming)"},
    },
)
async def upload_dataset(
    request: Request, principal: OptionalPrincipalDep, jobs: JobsDep, runtime: RuntimeDep
) -> DatasetUpload:
    """Upload a dataset for analysis, as a user (any credentials) or as a guest (a
    ``session_id`` form field). The profile starts at once: follow it at
    ``GET /api/upload/{id}/``."""
    settings = runtime.settings
    upload_id, job_id = uuid.uuid4(), uuid.uuid4()
    key = rules.object_key(Owner.of(principal), upload_id)
    received = await receive_upload(
        request,
        runtime.s3,
        bucket=settings.bucket,
        key=key,
        limits=UploadLimits(
            max_file_bytes=settings.dataset_max_bytes,
            part_bytes=settings.upload_part_bytes,
            parts_in_flight=settings.upload_parts_in_flight,
        ),
        accept_kind=rules.check_dataset_kind,
    )
    stored = received.file
    uploaded_at = datetime.now(UTC)
    try:
        kind = rules.check_name(stored.filename, stored.kind)
        session = None
        if principal is None:
            session = rules.guest_session(
                received.fields.get("session_id") or request.query_params.get("session_id")
            )
            if session is None:
                raise GuestSessionRequired()
        owner = Owner.of(principal, session)
        await rules.register_with_analysis(
            runtime.http,
            settings.analysis_internal_url,
            settings.internal_token,
            {
                "upload_id": str(upload_id),
                "job_id": str(job_id),
                "owner": owner.as_message(),
                "original_filename": stored.filename,
                "file_size": stored.size,
                "kind": kind,
                "uploaded_at": uploaded_at.isoformat(),
            },
        )
    except Exception:
        await delete_object(runtime.s3, stored.bucket, stored.key)
        raise
    await jobs.submit(
        stored,
        kind=kind,
        purpose=rules.PURPOSE,
        job_type=rules.JOB_TYPE,
        owner=owner,
        params={"upload_id": str(upload_id), "uploaded_at": uploaded_at.isoformat()},
        public_id=upload_id,
        job_id=job_id,
    )
    return DatasetUpload(
        **rules.upload_answer(upload_id, stored.filename, stored.size, owner, uploaded_at)
    )

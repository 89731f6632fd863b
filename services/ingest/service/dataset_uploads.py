"""The dataset upload (spec/pyanalypt-api.md "Upload File"): CSV, Excel or Parquet, by a
user or by a guest identified by its ``session_id``.

The content decides what a file is; its name must agree (a ``.csv`` that is a zip, an
``.xlsx`` that is text: 400 with the reason). Kinds that are never datasets are refused
from the first bytes, before the body is stored; the name is checked once the stream is
in. The upload is registered with analysis (which serves its status and profile) under
ids chosen here, then committed with its ``dataset.profile`` job: a client that reads
``GET /api/upload/{id}/`` right after the 201 finds it.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import PurePath
from typing import Any

import httpx

from services.ingest.errors import AnalysisUnavailable, UnsupportedFileKind
from services.ingest.service.jobs import Owner
from shared.log import get_logger

log = get_logger("services.ingest.dataset_uploads")

JOB_TYPE = "dataset.profile"
PURPOSE = "dataset"
GUEST_SESSION_MAX = 128

# Sniffed kind (services/ingest/uploads/sniffing.py) -> recorded kind.
DATASET_KINDS = {
    "csv": "csv",
    "text": "csv",
    "xlsx": "xlsx",
    "xls": "xls",
    "ods": "ods",
    "parquet": "parquet",
}
# Extension -> the recorded kinds its content may be.
EXTENSIONS: dict[str, set[str]] = {
    ".csv": {"csv"},
    ".tsv": {"csv"},
    ".tab": {"csv"},
    ".txt": {"csv"},
    ".xlsx": {"xlsx"},
    ".xlsm": {"xlsx"},
    ".xls": {"xls"},
    ".ods": {"ods"},
    ".parquet": {"parquet"},
    ".pq": {"parquet"},
}
SUPPORTED = "CSV (.csv, .tsv, .txt), Excel (.xlsx, .xlsm, .xls), OpenDocument (.ods) or Parquet"
_DESCRIPTIONS = {
    "csv": "CSV text",
    "xlsx": "an Excel workbook",
    "xls": "an Excel 97-2003 workbook",
    "ods": "an OpenDocument spreadsheet",
    "parquet": "a Parquet file",
    "zip": "a zip archive that holds no spreadsheet",
    "docx": "a Word document",
    "odt": "an OpenDocument text",
    "pdf": "a PDF document",
    "json": "JSON, not a table",
    "gzip": "gzip-compressed data (upload the uncompressed file)",
    "bzip2": "bzip2-compressed data (upload the uncompressed file)",
    "xz": "xz-compressed data (upload the uncompressed file)",
    "tar": "a tar archive",
    "binary": "binary data",
}


def check_dataset_kind(kind: str) -> None:
    """Refuse, from the first bytes, what is never a dataset."""
    if kind not in DATASET_KINDS:
        raise UnsupportedFileKind(
            f"The file holds {_DESCRIPTIONS.get(kind, kind)}, not a dataset; upload {SUPPORTED}."
        )


def check_name(filename: str, sniffed: str) -> str:
    """The recorded kind, once the name is known to agree with the content."""
    kind = DATASET_KINDS[sniffed]
    suffix = PurePath(filename).suffix.lower()
    if not suffix:
        return kind
    allowed = EXTENSIONS.get(suffix)
    if allowed is None:
        raise UnsupportedFileKind(f"{suffix} files are not datasets; upload {SUPPORTED}.")
    if kind not in allowed:
        expected = _DESCRIPTIONS[next(iter(allowed))]
        raise UnsupportedFileKind(
            f"{PurePath(filename).name} is named like {expected} but holds "
            f"{_DESCRIPTIONS.get(kind, kind)}."
        )
    return kind


def guest_session(raw: str | None) -> str | None:
    value = (raw or "").strip()
    return value[:GUEST_SESSION_MAX] or None


def object_key(owner: Owner, upload_id: uuid.UUID) -> str:
    return f"uploads/dataset/{owner.client_id or 'guest'}/{upload_id}"


def media_path(uploaded_at: datetime, filename: str) -> str:
    """The spec's ``file`` field: ``/media/uploads/2026/01/23/data.csv``."""
    return f"/media/uploads/{uploaded_at:%Y/%m/%d}/{filename}"


def upload_answer(
    upload_id: uuid.UUID, filename: str, size: int, owner: Owner, uploaded_at: datetime
) -> dict[str, Any]:
    return {
        "id": str(upload_id),
        "file": media_path(uploaded_at, filename),
        "original_filename": filename,
        "file_size": size,
        "session_id": owner.session_id,
        "uploaded_at": uploaded_at,
    }


async def register_with_analysis(
    http: httpx.AsyncClient,
    analysis_url: str,
    internal_token: str,
    record: dict[str, Any],
) -> None:
    """Create the dataset's record in analysis (status ``processing``); idempotent."""
    try:
        response = await http.post(
            f"{analysis_url}/internal/datasets",
            json=record,
            headers={"X-Internal-Token": internal_token},
        )
    except httpx.HTTPError as exc:
        log.error("dataset_not_registered", upload_id=record.get("upload_id"), error=repr(exc))
        raise AnalysisUnavailable() from exc
    if response.status_code != 200:
        log.error(
            "dataset_not_registered",
            upload_id=record.get("upload_id"),
            status=response.status_code,
        )
        raise AnalysisUnavailable()

"""The Files spec's conversion, parsing and tonality: answered from the cache, or
done by the worker while the request waits (API.md "Files' synchronous wait").

- A result is cached by (content hash, operation, parameters) in
  ``ingest.document_results``: asking twice does the work once, whoever asks (a
  cached conversion is copied into the asker's own files).
- A request whose job is still pending for the same file and parameters joins it
  instead of queueing a second one.
- Otherwise a job is queued (outbox + SQS) and the route waits for it up to
  ``INGEST_FILES_WAIT_SECONDS`` (a ``Prefer: wait=N`` header shortens it); past that it
  answers 202 with the job to poll (``GET /jobs/{id}``), never an error.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest.errors import ConversionUnavailable, UnsupportedConversion
from services.ingest.models import File
from services.ingest.repository import IngestRepository
from services.ingest.service.document_files import DERIVED, DocumentFiles, derived_name
from services.ingest.service.jobs import JobService, JobSnapshot, Owner
from services.ingest.service.waiting import JobEvents
from services.ingest.worker.documents.converters import CONVERSIONS, supported_pairs
from services.ingest.worker.documents.kinds import PROSE_KINDS, DocumentKind, parse_kind
from shared.identity import Principal
from shared.log import get_logger

log = get_logger("services.ingest.document_jobs")

CONVERT = "document.convert"
PARSE = "document.parse"
TONALITY = "document.tonality"
OPERATIONS = {CONVERT: "convert", PARSE: "parse", TONALITY: "tonality"}


def cache_key(operation: str, content_sha256: str, params: dict[str, Any]) -> str:
    material = orjson.dumps([operation, content_sha256, params], option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(material).hexdigest()


@dataclass(frozen=True)
class Submitted:
    """A request's state after submission: answered now (``result``), or a job to
    wait for (``job_id``)."""

    job_id: uuid.UUID | None = None
    result: dict[str, Any] | None = None
    cached: bool = False


def conversion_kinds(
    file: File, format_from: str, format_to: str
) -> tuple[DocumentKind, DocumentKind]:
    """The pair to convert, checked against the supported ones and the file itself."""
    source, target = parse_kind(format_from), parse_kind(format_to)
    if source is None or target is None or (source, target) not in CONVERSIONS:
        raise UnsupportedConversion(
            f"Unsupported conversion {format_from}->{format_to}; supported: "
            + ", ".join(supported_pairs())
        )
    stored = parse_kind(file.kind)
    if stored is not source and not (stored is not None and stored.is_text and source.is_text):
        raise UnsupportedConversion(f"The file is {file.kind}, not {source}")
    return source, target


def require_prose(file: File) -> DocumentKind:
    kind = parse_kind(file.kind)
    if kind not in PROSE_KINDS or kind is None:
        raise UnsupportedConversion(
            f"A {file.kind} file has no text to analyse; supported: "
            + ", ".join(sorted(str(k) for k in PROSE_KINDS))
        )
    return kind


def check_available(
    capabilities: dict[str, Any] | None, source: DocumentKind, target: DocumentKind
) -> None:
    """Refuse now what the workers said they cannot do (none reported: let them try)."""
    if capabilities is None:
        return
    for entry in capabilities.get("unavailable", []):
        if isinstance(entry, str) and entry.startswith(f"{source}->{target} "):
            raise ConversionUnavailable(f"Conversion {entry} is unavailable on this platform")


class DocumentJobs:
    def __init__(
        self,
        session: AsyncSession,
        s3: Any,
        events: JobEvents,
        on_commit: Callable[[], None] = lambda: None,
        download_expiry_seconds: int = 300,
    ) -> None:
        self.session = session
        self._expiry = download_expiry_seconds
        self.repo = IngestRepository(session)
        self.files = DocumentFiles(session, s3)
        self._s3 = s3
        self._jobs = JobService(session, events, on_commit=on_commit)

    async def convert(
        self, file: File, source: DocumentKind, target: DocumentKind, principal: Principal
    ) -> Submitted:
        params = {"format_from": str(source), "format_to": str(target)}
        key = cache_key("convert", file.sha256, params)
        mine = await self.repo.derived_file(principal.user_id, file.id, str(target))
        if mine is not None:
            return Submitted(result=await self.conversion_answer(mine), cached=True)
        cached = await self.repo.cached_result(key)
        if cached is not None:
            derived = await self._copy_cached(cached.result, file, principal)
            if derived is not None:
                return Submitted(result=await self.conversion_answer(derived), cached=True)
            await self.repo.forget_result(key)  # its object is gone: do the work again
            await self.session.commit()
        return await self._submit(file, CONVERT, params, key, principal)

    async def analyse(
        self, file: File, job_type: str, params: dict[str, Any], principal: Principal
    ) -> Submitted:
        """``document.parse`` or ``document.tonality`` on ``file``."""
        key = cache_key(OPERATIONS[job_type], file.sha256, params)
        cached = await self.repo.cached_result(key)
        if cached is not None:
            return Submitted(result=dict(cached.result), cached=True)
        return await self._submit(file, job_type, params, key, principal)

    async def _submit(
        self,
        file: File,
        job_type: str,
        params: dict[str, Any],
        key: str,
        principal: Principal,
    ) -> Submitted:
        running = await self.repo.unfinished_job_for(principal.user_id, file.id, job_type, key)
        if running is not None:
            return Submitted(job_id=running.id)
        job = await self._jobs.submit_job(
            file,
            job_type=job_type,
            owner=Owner.of(principal),
            params={**params, "cache_key": key, "s3_key": file.s3_key},
        )
        return Submitted(job_id=job.id)

    async def _copy_cached(
        self, result: dict[str, Any], source: File, principal: Principal
    ) -> File | None:
        """The cached conversion as a derived file of the asker (a copy of the object
        in their own space); None if the cached object is gone."""
        public_id = uuid.uuid4()
        key = f"files/{principal.user_id}/{public_id}"
        try:
            await self._s3.copy_object(
                Bucket=source.bucket,
                Key=key,
                CopySource={"Bucket": result["bucket"], "Key": result["key"]},
            )
        except Exception as exc:
            log.info("cached_conversion_missing", key=result.get("key"), error=type(exc).__name__)
            return None
        target = DocumentKind(result["kind"])
        derived = File(
            public_id=public_id,
            user_id=principal.user_id,
            client_id=principal.client_id,
            original_filename=derived_name(source.original_filename, target),
            bucket=source.bucket,
            s3_key=key,
            size=int(result["size"]),
            sha256=str(result["sha256"]),
            kind=str(target),
            content_type=target.content_type,
            purpose=DERIVED,
            source_file_id=source.id,
        )
        await self.repo.add_file(derived)
        await self.session.commit()
        return derived

    async def conversion_answer(self, derived: File) -> dict[str, Any]:
        return {
            "file_url": await self.files.presigned_download(derived, self._expiry),
            "new_s3_key": derived.s3_key,
            "status": "success",
            "message": None,
            "file_id": derived.id,
        }

    async def converted_file(self, snapshot: JobSnapshot) -> File | None:
        """The derived file a completed conversion job recorded."""
        result = snapshot.result or {}
        file_id = result.get("file_id")
        if not isinstance(file_id, int):
            return None
        file = await self.repo.get_file(file_id)
        return file if file is not None and file.deleted_at is None else None

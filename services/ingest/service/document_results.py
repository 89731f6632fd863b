"""The Files system's worker webhooks (spec/file-processing-api.md, its OpenAPI's
``/webhooks/*``), received on ingest's own port, signed like every worker webhook
(HMAC over timestamp, event id and body; replays outside the window refused, an
event id applied once).

- ``converter-webhook`` ``{file_url, new_s3_key, status, ...}``: the converted object
  becomes a ``derived`` file of the job's source, and the conversion is cached:
  ``{"message": "Conversion cached", "file_id"}``.
- ``parser-webhook`` (the parse answer's body) and ``analysis-webhook`` (the tonality
  answer's body): the result is cached.

A non-success ``status`` is acknowledged with 204 and nothing is cached.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest.models import File, Job
from services.ingest.repository import IngestRepository
from services.ingest.service.document_files import DERIVED
from services.ingest.service.document_jobs import CONVERT, OPERATIONS, PARSE, TONALITY
from services.ingest.worker.documents.kinds import parse_kind
from shared.errors import BadRequest, NotFound
from shared.webhook_receiver import SignedEvent

TOPIC_JOBS = {"converter-webhook": CONVERT, "parser-webhook": PARSE, "analysis-webhook": TONALITY}
MESSAGES = {
    CONVERT: "Conversion cached",
    PARSE: "Parsing result cached",
    TONALITY: "Tonality result cached",
}
NO_CONTENT: dict[str, Any] = {"status_code": 204}
# The worker's own fields, not part of the cached answer.
_TRANSPORT = ("job_id", "attempt")


def _required(payload: dict[str, Any], name: str, kind: type) -> Any:
    value = payload.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise BadRequest(f"{name} must be a {kind.__name__}")
    return value


class DocumentResults:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.repo = IngestRepository(session)

    async def apply(self, event: SignedEvent) -> dict[str, Any]:
        """The answer to record and send (``NO_CONTENT`` means 204)."""
        expected = TOPIC_JOBS.get(event.topic)
        if expected is None:
            raise NotFound(f"Unknown webhook topic {event.topic!r}")
        try:
            job_id = uuid.UUID(str(event.payload.get("job_id")))
        except ValueError:
            raise BadRequest("job_id must be a UUID") from None
        job = await self.repo.get_job(job_id, for_update=True)
        if job is None or job.type != expected:
            raise NotFound("Unknown job")
        seen = await self.repo.event_response(event.event_id)
        if seen is not None:
            await self.session.rollback()
            return seen
        if event.payload.get("status") != "success":
            response = NO_CONTENT
        elif job.type == CONVERT:
            response = await self._converted(job, event.payload)
        else:
            await self._cache(job, {k: v for k, v in event.payload.items() if k not in _TRANSPORT})
            response = {"message": MESSAGES[job.type]}
        if not await self.repo.record_event(event.event_id, event.topic, response):
            await self.session.rollback()
            return await self.repo.event_response(event.event_id) or response
        await self.session.commit()
        return response

    async def _cache(
        self, job: Job, result: dict[str, Any], *, object_key: str | None = None
    ) -> None:
        key = job.params.get("cache_key")
        source = await self.repo.get_file(job.file_id) if job.file_id is not None else None
        if not isinstance(key, str) or source is None:
            return
        await self.repo.store_result(
            cache_key=key,
            operation=OPERATIONS[job.type],
            content_sha256=source.sha256,
            params={k: v for k, v in job.params.items() if k not in ("cache_key", "s3_key")},
            result=result,
            object_key=object_key,
        )

    async def _converted(self, job: Job, payload: dict[str, Any]) -> dict[str, Any]:
        key = _required(payload, "new_s3_key", str)
        if not key.startswith(f"artifacts/{job.id}/"):
            raise BadRequest("new_s3_key is not this job's artifact")
        kind = parse_kind(_required(payload, "kind", str))
        if kind is None:
            raise BadRequest("kind is not a document kind")
        source = await self.repo.get_file(job.file_id) if job.file_id is not None else None
        if source is None or source.deleted_at is not None:
            raise NotFound("The source file was removed")
        derived = await self.repo.file_by_key(key)
        if derived is None:
            derived = await self.repo.add_file(
                File(
                    user_id=job.user_id,
                    client_id=job.client_id,
                    session_id=job.session_id,
                    original_filename=str(payload.get("filename") or key.rsplit("/", 1)[-1])[:255],
                    bucket=_required(payload, "bucket", str),
                    s3_key=key,
                    size=_required(payload, "size", int),
                    sha256=_required(payload, "sha256", str),
                    kind=str(kind),
                    content_type=kind.content_type,
                    purpose=DERIVED,
                    source_file_id=source.id,
                )
            )
        await self._cache(
            job,
            {
                "bucket": derived.bucket,
                "key": derived.s3_key,
                "size": derived.size,
                "sha256": derived.sha256,
                "kind": derived.kind,
            },
            object_key=derived.s3_key,
        )
        return {"message": MESSAGES[CONVERT], "file_id": derived.id}

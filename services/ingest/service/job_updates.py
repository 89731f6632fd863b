"""The worker's webhooks to ingest, applied to jobs at most once by event id.

Topics (payloads carry ``job_id``; all but ``job.started`` carry the ``attempt``
that ``job.started`` answered):

- ``job.started`` ``{receive_count}`` → ``{"proceed": bool, "attempt": n, "status"}``:
  a job already completed or failed is not worked on again (a duplicate message), nor
  one another worker is running (a sign of life within ``takeover_after_seconds``).
- ``job.progress`` ``{percent, message, phase}`` → ``{"proceed": bool}`` (false when
  the job ended meanwhile, or another attempt took it over: the worker stops).
- ``job.heartbeat`` → ``{"proceed": bool}``: the worker is alive on it (sent while
  a long step gives no progress).
- ``job.retrying`` ``{reason}``: this attempt failed, the message will come back.
- ``job.completed`` ``{result}``; ``job.failed`` ``{reason}``.

A webhook of an attempt older than the job's current one is acknowledged and
ignored (a worker that was presumed dead and woke up). A terminal job never
changes again.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest.models import Job
from services.ingest.repository import TERMINAL, IngestRepository
from services.ingest.service.jobs import now
from services.ingest.service.waiting import JobEvents
from shared.errors import BadRequest, NotFound
from shared.webhook_receiver import SignedEvent

MAX_TEXT = 2000

Apply = Callable[[Job, dict[str, Any]], Awaitable[dict[str, Any]]]


def _text(value: Any, default: str) -> str:
    text = str(value) if value is not None else default
    return text[:MAX_TEXT]


def _attempt(payload: dict[str, Any]) -> int:
    try:
        return int(payload.get("attempt", 0))
    except (TypeError, ValueError):
        raise BadRequest("attempt must be an integer") from None


class JobUpdates:
    def __init__(
        self, session: AsyncSession, events: JobEvents, *, takeover_after: float = 60.0
    ) -> None:
        self.session = session
        self._takeover_after = takeover_after
        self.repo = IngestRepository(session)
        self._events = events
        self._topics: dict[str, Apply] = {
            "job.started": self._started,
            "job.progress": self._progress,
            "job.heartbeat": self._heartbeat,
            "job.retrying": self._retrying,
            "job.completed": self._completed,
            "job.failed": self._failed,
        }

    @property
    def topics(self) -> frozenset[str]:
        return frozenset(self._topics)

    async def apply(self, event: SignedEvent) -> dict[str, Any]:
        handler = self._topics.get(event.topic)
        if handler is None:
            raise NotFound(f"Unknown webhook topic {event.topic!r}")
        try:
            job_id = uuid.UUID(str(event.payload.get("job_id")))
        except ValueError:
            raise BadRequest("job_id must be a UUID") from None
        job = await self.repo.get_job(job_id, for_update=True)
        if job is None:
            raise NotFound("Unknown job")
        seen = await self.repo.event_response(event.event_id)
        if seen is not None:
            await self.session.rollback()
            return seen
        before = (job.status, job.progress, job.message, job.phase)
        response = await handler(job, event.payload)
        if not await self.repo.record_event(event.event_id, event.topic, response):
            await self.session.rollback()
            return await self.repo.event_response(event.event_id) or response
        changed = (job.status, job.progress, job.message, job.phase) != before
        await self.session.commit()
        if changed:
            await self._events.publish(str(job.id))
        return response

    def _current(self, job: Job, payload: dict[str, Any]) -> bool:
        """Whether the event is from the job's current attempt of an unfinished job."""
        return job.status not in TERMINAL and _attempt(payload) == job.attempt

    def _touch(self, job: Job) -> None:
        job.updated_at = now()
        job.heartbeat_at = job.updated_at

    async def _started(self, job: Job, payload: dict[str, Any]) -> dict[str, Any]:
        if job.status in TERMINAL:
            return {"proceed": False, "status": job.status, "attempt": job.attempt}
        silent = (now() - job.heartbeat_at).total_seconds()
        if job.status == "running" and silent < self._takeover_after:
            # Another worker is on it: this message is a duplicate (a re-send).
            return {"proceed": False, "status": job.status, "attempt": job.attempt}
        job.attempt += 1
        job.status = "running"
        job.progress = 0
        job.phase = "extract"
        job.message = "Processing" if job.attempt == 1 else f"Processing (attempt {job.attempt})"
        job.started_at = job.started_at or now()
        self._touch(job)
        return {"proceed": True, "status": job.status, "attempt": job.attempt}

    async def _progress(self, job: Job, payload: dict[str, Any]) -> dict[str, Any]:
        if not self._current(job, payload):
            return {"proceed": job.status not in TERMINAL and _attempt(payload) >= job.attempt}
        try:
            percent = int(payload.get("percent", job.progress))
        except (TypeError, ValueError):
            raise BadRequest("percent must be an integer") from None
        # A job is 100 % only once it completed.
        job.progress = max(0, min(99, percent))
        if payload.get("message") is not None:
            job.message = _text(payload["message"], "")
        if payload.get("phase") is not None:
            job.phase = _text(payload["phase"], "")[:32]
        self._touch(job)
        return {"proceed": True}

    async def _heartbeat(self, job: Job, payload: dict[str, Any]) -> dict[str, Any]:
        if not self._current(job, payload):
            return {"proceed": False}
        job.heartbeat_at = now()
        return {"proceed": True}

    async def _retrying(self, job: Job, payload: dict[str, Any]) -> dict[str, Any]:
        if self._current(job, payload):
            job.status = "pending"
            job.message = f"Attempt {job.attempt} failed, retrying: " + _text(
                payload.get("reason"), "unknown error"
            )
            self._touch(job)
        return {"ok": True}

    async def _completed(self, job: Job, payload: dict[str, Any]) -> dict[str, Any]:
        if job.status in TERMINAL or _attempt(payload) < job.attempt:
            return {"ok": True, "status": job.status}
        result = payload.get("result")
        if not isinstance(result, dict):
            raise BadRequest("result must be a JSON object")
        job.status = "completed"
        job.progress = 100
        job.phase = None
        job.message = _text(payload.get("message"), "Completed")
        job.result = result
        job.error = None
        job.finished_at = now()
        self._touch(job)
        return {"ok": True, "status": job.status}

    async def _failed(self, job: Job, payload: dict[str, Any]) -> dict[str, Any]:
        if job.status in TERMINAL or _attempt(payload) < job.attempt:
            return {"ok": True, "status": job.status}
        fail(job, _text(payload.get("reason"), "Processing failed"))
        return {"ok": True, "status": job.status}


def fail(job: Job, reason: str) -> None:
    """Mark ``job`` failed with a human ``reason`` (the caller commits)."""
    job.status = "failed"
    job.error = reason[:MAX_TEXT]
    job.message = "Failed"
    job.phase = None
    job.finished_at = now()
    job.updated_at = job.finished_at
    job.heartbeat_at = job.finished_at

"""Generic job routes (ARCHITECTURE.md "Upload to analysis"): poll, wait, or follow.

- ``GET /jobs/{id}``: the job; with ``Prefer: wait=N`` the answer waits up to N
  seconds for the job to finish (RFC 7240; ``Preference-Applied`` says so).
- ``GET /jobs/{id}/events``: Server-Sent Events, one ``progress`` event per change
  and a final ``completed`` or ``failed`` event, then the stream ends.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import orjson
from fastapi import APIRouter, Header, Response
from fastapi.responses import StreamingResponse

from services.ingest.dependencies import JobsDep, RuntimeDep, ViewerDep
from services.ingest.schemas import JobOut
from services.ingest.service.jobs import JobSnapshot, parse_job_id, snapshot_reader
from services.ingest.service.waiting import wait_until_final, watch

router = APIRouter(tags=["Jobs"])

_WAIT = re.compile(r"(?:^|[,;\s])wait\s*=\s*\"?(\d+(?:\.\d+)?)\"?", re.IGNORECASE)


def job_out(job: JobSnapshot) -> JobOut:
    return JobOut.model_validate(job, from_attributes=True)


def prefer_wait(header: str | None) -> float | None:
    if not header:
        return None
    match = _WAIT.search(header)
    return float(match.group(1)) if match else None


@router.get(
    "/jobs/{job_id}",
    response_model=JobOut,
    responses={404: {"description": "No such job (or another tenant's)"}},
)
async def get_job(
    job_id: str,
    response: Response,
    viewer: ViewerDep,
    jobs: JobsDep,
    runtime: RuntimeDep,
    prefer: str | None = Header(default=None),
) -> JobOut:
    """A job's status, progress, phase, message, error and result."""
    job = JobSnapshot.of(await jobs.get_job(parse_job_id(job_id), viewer))
    wait = prefer_wait(prefer)
    if wait is None or job.final:
        return job_out(job)
    wait = min(wait, runtime.settings.max_prefer_wait_seconds)
    await jobs.session.close()
    job = await wait_until_final(
        runtime.events,
        job.id,
        snapshot_reader(runtime.sessions, runtime.events, parse_job_id(job.id)),
        is_final=lambda snapshot: snapshot.final,
        timeout=wait,
        reread_seconds=runtime.settings.wait_reread_seconds,
    )
    response.headers["Preference-Applied"] = f"wait={int(wait) if wait.is_integer() else wait}"
    return job_out(job)


def _sse(event: str, job: JobSnapshot) -> bytes:
    data = job_out(job).model_dump(mode="json")
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


@router.get(
    "/jobs/{job_id}/events",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "Server-Sent Events"},
        404: {"description": "No such job (or another tenant's)"},
    },
)
async def job_events(
    job_id: str, viewer: ViewerDep, jobs: JobsDep, runtime: RuntimeDep
) -> StreamingResponse:
    """Server-Sent Events of a job: ``progress`` at every change, then ``completed``
    or ``failed``; a comment line every few seconds keeps the connection open."""
    uuid_ = parse_job_id(job_id)
    await jobs.get_job(uuid_, viewer)
    await jobs.session.close()
    settings = runtime.settings

    async def stream() -> AsyncIterator[bytes]:
        yield b"retry: 2000\n\n"
        async for job in watch(
            runtime.events,
            str(uuid_),
            snapshot_reader(runtime.sessions, runtime.events, uuid_),
            is_final=lambda snapshot: snapshot.final,
            timeout=24 * 3600,
            reread_seconds=settings.wait_reread_seconds,
            keepalive_seconds=settings.events_keepalive_seconds,
        ):
            if job is None:
                yield b": keep-alive\n\n"
            else:
                yield _sse(job.status if job.final else "progress", job)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )

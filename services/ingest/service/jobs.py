"""Files and jobs: the rules and the transactions (never imports fastapi).

A job and its queue message commit in ONE transaction (the outbox); the relay
(:mod:`services.ingest.service.relay`) sends the message to SQS. After every commit that
changes a job, its change is published for the waiters (:mod:`services.ingest.service.waiting`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.ingest.errors import FileNotFound, JobNotFound
from services.ingest.models import File, Job, OutboxMessage
from services.ingest.repository import TERMINAL, IngestRepository
from services.ingest.service.waiting import JobEvents
from services.ingest.uploads.multipart import StoredFile
from shared.identity import Principal


def now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Owner:
    """Who a file and its jobs belong to: an account (user + tenant) or a guest session."""

    user_id: str | None
    client_id: str | None
    session_id: str | None = None

    @classmethod
    def of(cls, principal: Principal | None, guest_session: str | None = None) -> Owner:
        if principal is None:
            return cls(user_id=None, client_id=None, session_id=guest_session)
        return cls(user_id=principal.user_id, client_id=principal.client_id)

    def as_message(self) -> dict[str, str | None]:
        return {"user_id": self.user_id, "client_id": self.client_id, "session_id": self.session_id}


@dataclass(frozen=True)
class Viewer:
    """Who is asking: admins see every tenant, users their own, guests their session's."""

    client_id: str | None
    is_admin: bool = False
    guest_session: str | None = None

    @classmethod
    def of(cls, principal: Principal | None, guest_session: str | None = None) -> Viewer:
        if principal is None:
            return cls(client_id=None, guest_session=guest_session)
        return cls(client_id=principal.client_id, is_admin=principal.is_admin)

    def may_see(self, client_id: str | None, user_id: str | None, session_id: str | None) -> bool:
        if self.is_admin:
            return True
        if client_id is not None:
            return client_id == self.client_id
        return user_id is None and session_id is not None and session_id == self.guest_session


@dataclass(frozen=True)
class JobSnapshot:
    """A job as waiters compare and routes render it."""

    id: str
    type: str
    status: str
    progress: int
    phase: str | None
    message: str | None
    error: str | None
    result: dict[str, Any] | None
    file_id: int | None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @property
    def final(self) -> bool:
        return self.status in TERMINAL

    @classmethod
    def of(cls, job: Job) -> JobSnapshot:
        return cls(
            id=str(job.id),
            type=job.type,
            status=job.status,
            progress=job.progress,
            phase=job.phase,
            message=job.message,
            error=job.error,
            result=job.result,
            file_id=job.file_id,
            created_at=job.created_at,
            updated_at=job.updated_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
        )


def job_message(job: Job, file: File) -> dict[str, Any]:
    """The SQS body of ``job`` (docs/DESIGN.md "Pipeline")."""
    return {
        "type": job.type,
        "job_id": str(job.id),
        "file": {
            "file_id": file.id,
            "bucket": file.bucket,
            "key": file.s3_key,
            "size": file.size,
            "sha256": file.sha256,
            "kind": file.kind,
            "filename": file.original_filename,
        },
        "owner": {"user_id": job.user_id, "client_id": job.client_id, "session_id": job.session_id},
        "params": job.params,
    }


def parse_job_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise JobNotFound() from None


class JobService:
    def __init__(
        self,
        session: AsyncSession,
        events: JobEvents,
        on_commit: Callable[[], None] = lambda: None,
    ) -> None:
        self.session = session
        self.repo = IngestRepository(session)
        self._events = events
        self._on_commit = on_commit

    async def submit(
        self,
        stored: StoredFile,
        *,
        kind: str,
        purpose: str,
        job_type: str,
        owner: Owner,
        params: dict[str, Any] | None = None,
        public_id: uuid.UUID | None = None,
        job_id: uuid.UUID | None = None,
    ) -> tuple[File, Job]:
        """Record the stored file and a job on it, and its queue message, in one commit.
        ``public_id`` and ``job_id`` may be chosen by the caller (a dataset upload is
        registered with analysis under them before it is committed)."""
        file = await self.repo.add_file(
            File(
                public_id=public_id or uuid.uuid4(),
                user_id=owner.user_id,
                client_id=owner.client_id,
                session_id=owner.session_id,
                original_filename=stored.filename,
                bucket=stored.bucket,
                s3_key=stored.key,
                size=stored.size,
                sha256=stored.sha256,
                kind=kind,
                content_type=(stored.content_type or "")[:255] or None,
                purpose=purpose,
            )
        )
        job = await self.submit_job(
            file, job_type=job_type, owner=owner, params=params, job_id=job_id
        )
        return file, job

    async def submit_job(
        self,
        file: File,
        *,
        job_type: str,
        owner: Owner,
        params: dict[str, Any] | None = None,
        job_id: uuid.UUID | None = None,
    ) -> Job:
        """A job on an existing file with its queue message, committed together."""
        job = await self.repo.add_job(
            Job(
                id=job_id or uuid.uuid4(),
                type=job_type,
                file_id=file.id,
                user_id=owner.user_id,
                client_id=owner.client_id,
                session_id=owner.session_id,
                status="pending",
                progress=0,
                message="Queued",
                params=params or {},
                created_at=now(),
                updated_at=now(),
                heartbeat_at=now(),
            )
        )
        await self.repo.add_outbox(OutboxMessage(job_id=job.id, body=job_message(job, file)))
        await self.session.commit()
        self._on_commit()
        await self._events.publish(str(job.id))
        return job

    async def get_job(self, job_id: uuid.UUID, viewer: Viewer) -> Job:
        """The job, if ``viewer`` may see it; 404 otherwise (also for another tenant's)."""
        job = await self.repo.get_job(job_id)
        if job is None or not viewer.may_see(job.client_id, job.user_id, job.session_id):
            raise JobNotFound()
        return job

    async def snapshot(self, job_id: uuid.UUID) -> JobSnapshot:
        """The job as it is now, in a transaction of its own (waiters call this often)."""
        job = await self.repo.get_job(job_id)
        snapshot = JobSnapshot.of(job) if job is not None else None
        await self.session.rollback()  # expires the job: read it before
        if snapshot is None:
            raise JobNotFound()
        return snapshot

    async def get_file(self, file_id: int, viewer: Viewer) -> File:
        file = await self.repo.get_file(file_id)
        if (
            file is None
            or file.deleted_at is not None
            or not viewer.may_see(file.client_id, file.user_id, file.session_id)
        ):
            raise FileNotFound()
        return file


def snapshot_reader(
    sessions: async_sessionmaker[AsyncSession], events: JobEvents, job_id: uuid.UUID
) -> Callable[[], Any]:
    """A ``read()`` for :func:`services.ingest.service.waiting.watch`: a short session per read,
    so a waiting request holds no database connection between reads."""

    async def read() -> JobSnapshot:
        async with sessions() as session:
            return await JobService(session, events).snapshot(job_id)

    return read

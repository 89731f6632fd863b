"""Every SQL statement of the ingest service."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest.models import File, Job, OutboxMessage, WebhookEvent

TERMINAL = ("completed", "failed")
UNFINISHED = ("pending", "running")


class IngestRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # --- files ---

    async def add_file(self, file: File) -> File:
        self.session.add(file)
        await self.session.flush()
        return file

    async def get_file(self, file_id: int) -> File | None:
        return await self.session.get(File, file_id)

    async def file_id_of(self, public_id: uuid.UUID) -> int | None:
        found = await self.session.execute(select(File.id).where(File.public_id == public_id))
        return found.scalar_one_or_none()

    async def mark_file_deleted(self, file_id: int, when: datetime) -> File | None:
        file = await self.session.get(File, file_id, with_for_update=True)
        if file is not None and file.deleted_at is None:
            file.deleted_at = when
        return file

    # --- jobs ---

    async def add_job(self, job: Job) -> Job:
        self.session.add(job)
        await self.session.flush()
        return job

    async def get_job(self, job_id: uuid.UUID, *, for_update: bool = False) -> Job | None:
        return await self.session.get(
            Job, job_id, with_for_update=for_update, populate_existing=True
        )

    async def jobs_to_resend(
        self,
        now: datetime,
        pending_after: timedelta,
        running_after: timedelta,
        limit: int,
        *,
        max_backoff: timedelta = timedelta(hours=1),
    ) -> Sequence[Job]:
        """Unfinished jobs that went silent (locked, skipping those another relay holds):
        pending ones whose last send is older than ``pending_after`` doubled for every
        earlier send (capped at ``max_backoff``), running ones with no sign of life for
        ``running_after``."""
        backoff = func.least(
            func.power(2, func.least(func.greatest(Job.dispatches - 1, 0), 16))
            * pending_after.total_seconds(),
            max_backoff.total_seconds(),
        )
        query = (
            select(Job)
            .where(
                or_(
                    and_(
                        Job.status == "pending",
                        Job.heartbeat_at < now - func.make_interval(0, 0, 0, 0, 0, 0, backoff),
                    ),
                    and_(Job.status == "running", Job.heartbeat_at < now - running_after),
                )
            )
            .order_by(Job.heartbeat_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return (await self.session.scalars(query)).all()

    # --- outbox ---

    async def add_outbox(self, message: OutboxMessage) -> None:
        self.session.add(message)
        await self.session.flush()

    async def due_outbox(self, now: datetime, limit: int) -> Sequence[OutboxMessage]:
        query = (
            select(OutboxMessage)
            .where(OutboxMessage.sent_at.is_(None), OutboxMessage.available_at <= now)
            .order_by(OutboxMessage.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return (await self.session.scalars(query)).all()

    async def latest_outbox(self, job_id: uuid.UUID) -> OutboxMessage | None:
        query = (
            select(OutboxMessage)
            .where(OutboxMessage.job_id == job_id)
            .order_by(OutboxMessage.id.desc())
            .limit(1)
        )
        return (await self.session.scalars(query)).first()

    async def prune_sent_outbox(self, before: datetime) -> int:
        result = await self.session.execute(
            delete(OutboxMessage).where(
                OutboxMessage.sent_at.is_not(None), OutboxMessage.sent_at < before
            )
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    # --- webhook events ---

    async def event_response(self, event_id: str) -> dict[str, Any] | None:
        row = await self.session.get(WebhookEvent, event_id)
        return row.response if row is not None else None

    async def record_event(self, event_id: str, topic: str, response: dict[str, Any]) -> bool:
        """Remember an applied event; False if a concurrent delivery recorded it first."""
        result = await self.session.execute(
            insert(WebhookEvent)
            .values(event_id=event_id, topic=topic, response=response)
            .on_conflict_do_nothing(index_elements=[WebhookEvent.event_id])
            .returning(WebhookEvent.event_id)
        )
        return result.first() is not None

    async def prune_events(self, before: datetime) -> int:
        result = await self.session.execute(
            delete(WebhookEvent).where(WebhookEvent.received_at < before)
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def touch_job(self, job_id: uuid.UUID, now: datetime) -> None:
        await self.session.execute(
            update(Job).where(Job.id == job_id).values(heartbeat_at=now, updated_at=now)
        )

    async def count_unfinished(self) -> int:
        query = select(func.count()).select_from(Job).where(Job.status.in_(UNFINISHED))
        return int(await self.session.scalar(query) or 0)

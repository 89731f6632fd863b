"""Every SQL statement of the ingest service."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest.models import DocumentResult, File, Job, OutboxMessage, WebhookEvent

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

    # --- documents (the Files spec: services/ingest/service/document_*.py) ---

    def _documents_of(self, user_id: str, purposes: Sequence[str]) -> Any:
        return select(File).where(
            File.user_id == user_id, File.purpose.in_(purposes), File.deleted_at.is_(None)
        )

    async def document_by_content(self, user_id: str, sha256: str) -> File | None:
        query = self._documents_of(user_id, ("document",)).where(File.sha256 == sha256)
        return (await self.session.scalars(query.limit(1))).first()

    async def file_history(
        self,
        user_id: str,
        purposes: Sequence[str],
        *,
        limit: int,
        offset: int,
        kind: str | None,
    ) -> Sequence[File]:
        query = self._documents_of(user_id, purposes)
        if kind is not None:
            query = query.where(File.kind == kind)
        query = query.order_by(File.created_at.desc(), File.id.desc()).limit(limit).offset(offset)
        return (await self.session.scalars(query)).all()

    async def document_by_key(
        self, user_id: str, s3_key: str, purposes: Sequence[str]
    ) -> File | None:
        query = self._documents_of(user_id, purposes).where(File.s3_key == s3_key)
        return (await self.session.scalars(query.limit(1))).first()

    async def document_by_name(
        self, user_id: str, filename: str, purposes: Sequence[str]
    ) -> File | None:
        query = (
            self._documents_of(user_id, purposes)
            .where(File.original_filename == filename)
            .order_by(File.created_at.desc(), File.id.desc())
        )
        return (await self.session.scalars(query.limit(1))).first()

    async def file_by_key(self, s3_key: str) -> File | None:
        query = select(File).where(File.s3_key == s3_key, File.deleted_at.is_(None))
        return (await self.session.scalars(query.limit(1))).first()

    async def derived_tree(self, file_id: int) -> Sequence[File]:
        """Every live file derived from ``file_id``, at any depth (locked)."""
        tree = select(File.id).where(File.source_file_id == file_id).cte("derived", recursive=True)
        tree = tree.union_all(select(File.id).where(File.source_file_id == tree.c.id))
        query = (
            select(File)
            .where(File.id.in_(select(tree.c.id)), File.deleted_at.is_(None))
            .with_for_update()
        )
        return (await self.session.scalars(query)).all()

    async def derived_file(self, user_id: str, source_file_id: int, kind: str) -> File | None:
        query = (
            self._documents_of(user_id, ("derived",))
            .where(File.source_file_id == source_file_id, File.kind == kind)
            .order_by(File.id.desc())
        )
        return (await self.session.scalars(query.limit(1))).first()

    async def unfinished_job_for(
        self, user_id: str, file_id: int, job_type: str, cache_key: str
    ) -> Job | None:
        query = select(Job).where(
            Job.user_id == user_id,
            Job.file_id == file_id,
            Job.type == job_type,
            Job.status.in_(UNFINISHED),
            Job.params["cache_key"].astext == cache_key,
        )
        return (await self.session.scalars(query.limit(1))).first()

    async def cached_result(self, cache_key: str) -> DocumentResult | None:
        return await self.session.get(DocumentResult, cache_key)

    async def store_result(
        self,
        *,
        cache_key: str,
        operation: str,
        content_sha256: str,
        params: dict[str, Any],
        result: dict[str, Any],
        object_key: str | None,
    ) -> None:
        values = {
            "cache_key": cache_key,
            "operation": operation,
            "content_sha256": content_sha256,
            "params": params,
            "result": result,
            "object_key": object_key,
        }
        statement = insert(DocumentResult).values(**values)
        await self.session.execute(
            statement.on_conflict_do_update(
                index_elements=[DocumentResult.cache_key],
                set_={
                    "result": statement.excluded.result,
                    "object_key": statement.excluded.object_key,
                },
            )
        )

    async def forget_result(self, cache_key: str) -> None:
        await self.session.execute(
            delete(DocumentResult).where(DocumentResult.cache_key == cache_key)
        )

    async def forget_results_of(self, object_keys: Sequence[str]) -> None:
        if object_keys:
            await self.session.execute(
                delete(DocumentResult).where(DocumentResult.object_key.in_(object_keys))
            )

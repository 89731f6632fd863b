"""Every SQL statement of the analysis service (the bulk loads included)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.analysis.models import (
    SCHEMA,
    Dataset,
    SkypeConversation,
    SkypeExport,
    SkypeExportChunk,
    SkypeMessage,
    WebhookEvent,
)

COPY_TIMEOUT_SECONDS = 900.0


class AnalysisRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # --- exports ---

    async def open_export(self, values: dict[str, Any]) -> SkypeExport:
        """The export of ``values["job_id"]``, created if it is the job's first attempt."""
        await self.session.execute(
            insert(SkypeExport).values(**values).on_conflict_do_nothing(index_elements=["job_id"])
        )
        export = await self.export_of_job(values["job_id"])
        assert export is not None
        return export

    async def export_of_job(self, job_id: uuid.UUID) -> SkypeExport | None:
        query = select(SkypeExport).where(SkypeExport.job_id == job_id)
        return (await self.session.scalars(query)).first()

    async def get_export(self, export_id: int, *, for_update: bool = False) -> SkypeExport | None:
        return await self.session.get(
            SkypeExport, export_id, with_for_update=for_update, populate_existing=True
        )

    async def list_exports(self, client_id: str | None) -> Sequence[SkypeExport]:
        query = (
            select(SkypeExport)
            .where(SkypeExport.client_id == client_id, SkypeExport.status != "deleted")
            .order_by(SkypeExport.created_at.desc(), SkypeExport.export_id.desc())
        )
        return (await self.session.scalars(query)).all()

    # --- chunks and messages ---

    async def chunks(self, export_id: int) -> dict[int, SkypeExportChunk]:
        query = select(SkypeExportChunk).where(SkypeExportChunk.export_id == export_id)
        return {row.chunk: row for row in (await self.session.scalars(query)).all()}

    async def drop_chunks_from(self, export_id: int, chunk: int, first_seq: int) -> None:
        """Forget chunk ``chunk`` and later ones, and every message from ``first_seq`` on."""
        await self.session.execute(
            delete(SkypeMessage).where(
                SkypeMessage.export_id == export_id, SkypeMessage.seq >= first_seq
            )
        )
        await self.session.execute(
            delete(SkypeExportChunk).where(
                SkypeExportChunk.export_id == export_id, SkypeExportChunk.chunk >= chunk
            )
        )

    async def record_chunk(self, row: SkypeExportChunk) -> None:
        self.session.add(row)
        await self.session.flush()

    async def loaded_rows(self, export_id: int) -> tuple[int, int]:
        """(chunks, rows) recorded for the export."""
        query = select(func.count(), func.coalesce(func.sum(SkypeExportChunk.rows), 0)).where(
            SkypeExportChunk.export_id == export_id
        )
        count, rows = (await self.session.execute(query)).one()
        return int(count), int(rows)

    async def count_messages(self, export_id: int) -> int:
        query = (
            select(func.count())
            .select_from(SkypeMessage)
            .where(SkypeMessage.export_id == export_id)
        )
        return int(await self.session.scalar(query) or 0)

    async def copy_csv(
        self,
        table: str,
        columns: Sequence[str],
        not_null: Sequence[str],
        source: AsyncIterable[bytes],
    ) -> int:
        """COPY a CSV stream into ``table`` within the session's transaction; rows loaded."""
        connection = await self.session.connection()
        raw = await connection.get_raw_connection()
        driver: Any = raw.driver_connection
        status: str = await driver.copy_to_table(
            table,
            source=source,
            columns=list(columns),
            schema_name=SCHEMA,
            format="csv",
            force_not_null=list(not_null),
            timeout=COPY_TIMEOUT_SECONDS,
        )
        return int(status.rsplit(" ", 1)[-1])

    async def delete_conversations(self, export_id: int) -> None:
        await self.session.execute(
            delete(SkypeConversation).where(SkypeConversation.export_id == export_id)
        )

    async def delete_export_data(self, export_id: int) -> None:
        """Messages, conversations and chunk records of an export."""
        for model in (SkypeMessage, SkypeConversation, SkypeExportChunk):
            await self.session.execute(delete(model).where(model.export_id == export_id))

    # --- datasets ---

    async def register_dataset(self, values: dict[str, Any]) -> Dataset:
        """The dataset ``values["upload_id"]``, created unless it exists (idempotent)."""
        await self.session.execute(
            insert(Dataset).values(**values).on_conflict_do_nothing(index_elements=["upload_id"])
        )
        dataset = await self.get_dataset(values["upload_id"])
        assert dataset is not None
        return dataset

    async def get_dataset(
        self, upload_id: uuid.UUID, *, for_update: bool = False
    ) -> Dataset | None:
        return await self.session.get(
            Dataset, upload_id, with_for_update=for_update, populate_existing=True
        )

    async def list_datasets(
        self,
        *,
        client_id: str | None,
        session_id: str | None,
        everyone: bool,
        now: datetime,
        limit: int = 500,
    ) -> Sequence[Dataset]:
        """Live datasets (not deleted, not expired) of a tenant, a guest session, or
        ``everyone`` (admins), newest first."""
        query = select(Dataset).where(
            Dataset.deleted_at.is_(None),
            (Dataset.expires_at.is_(None)) | (Dataset.expires_at > now),
        )
        if not everyone:
            if client_id is not None:
                query = query.where(Dataset.client_id == client_id)
            else:
                query = query.where(Dataset.client_id.is_(None), Dataset.session_id == session_id)
        query = query.order_by(Dataset.uploaded_at.desc()).limit(limit)
        return (await self.session.execute(query)).scalars().all()

    async def expired_datasets(self, now: datetime, limit: int) -> Sequence[Dataset]:
        query = (
            select(Dataset)
            .where(Dataset.deleted_at.is_(None), Dataset.expires_at <= now)
            .order_by(Dataset.expires_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return (await self.session.execute(query)).scalars().all()

    # --- webhook events ---

    async def event_response(self, event_id: str) -> dict[str, Any] | None:
        row = await self.session.get(WebhookEvent, event_id)
        return row.response if row is not None else None

    async def record_event(self, event_id: str, topic: str, response: dict[str, Any]) -> bool:
        result = await self.session.execute(
            insert(WebhookEvent)
            .values(event_id=event_id, topic=topic, response=response)
            .on_conflict_do_nothing(index_elements=[WebhookEvent.event_id])
            .returning(WebhookEvent.event_id)
        )
        return result.first() is not None

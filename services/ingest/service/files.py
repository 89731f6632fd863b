"""Removing a stored file: its object first, then the row is marked deleted."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.ingest.repository import IngestRepository
from services.ingest.service.jobs import now
from services.ingest.uploads.storage import delete_object


class FileRemoval:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], s3: Any) -> None:
        self._sessions = sessions
        self._s3 = s3

    async def remove_upload(self, public_id: Any) -> bool:
        """``remove`` by the PyAnalypt upload id (False when no such file)."""
        async with self._sessions() as session:
            file_id = await IngestRepository(session).file_id_of(public_id)
        return file_id is not None and await self.remove(file_id)

    async def remove(self, file_id: int) -> bool:
        """True if the file existed (removing it again is harmless: it stays removed)."""
        async with self._sessions() as session:
            repo = IngestRepository(session)
            file = await repo.get_file(file_id)
            if file is None:
                return False
            # The object goes first: a failure leaves the row pointing at it, to retry.
            await delete_object(self._s3, file.bucket, file.s3_key)
            await repo.mark_file_deleted(file_id, now())
            await session.commit()
            return True

"""Request and response models of the analysis service."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class ExportSummary(BaseModel):
    """One export of ``GET /api/exports`` (the spec's fields first)."""

    export_id: int
    user_id: str | None = None
    export_date: datetime | None = None
    conversation_count: int
    message_count: int
    status: str
    filename: str | None = None
    user_display_name: str | None = None
    task_id: str
    created_at: datetime
    completed_at: datetime | None = None


class DeletedExport(BaseModel):
    export_id: int
    deleted: bool

"""Request and response models of the analysis service."""

from __future__ import annotations

from datetime import datetime
from typing import Any

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


class DatasetSummary(BaseModel):
    """An upload as the PyAnalypt spec answers it, with its processing status."""

    id: str
    file: str
    original_filename: str
    file_size: int
    session_id: str | None
    uploaded_at: datetime
    status: str
    error: str | None = None
    profiled_at: datetime | None = None
    expires_at: datetime | None = None


class DatasetDetail(DatasetSummary):
    progress: int | None = None
    message: str | None = None
    profile: dict[str, Any] | None = None


class DatasetPreview(BaseModel):
    id: str
    columns: list[str]
    rows: list[list[Any]]
    total_rows: int | None = None


class DatasetDeleted(BaseModel):
    id: str
    deleted: bool

"""Request and response models of the ingest service."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

JobStatusName = Literal["pending", "running", "completed", "failed"]


class TaskResponse(BaseModel):
    """The Skype spec's answer of an asynchronous upload."""

    task_id: str


class PhaseResult(BaseModel):
    model_config = ConfigDict(extra="allow")

    status: JobStatusName
    processed_conversations: int = 0
    processed_messages: int = 0
    duration_seconds: float = 0.0


class LoadPhaseResult(PhaseResult):
    export_id: int | None = None


class Phases(BaseModel):
    extract: PhaseResult
    transform: PhaseResult
    load: LoadPhaseResult


class ProcessingResult(BaseModel):
    """The Skype spec's answer of a synchronous upload. The job that did the work is
    named by the ``X-Task-ID`` header, not in the body: the spec's clients take a body
    with ``task_id`` for the asynchronous answer."""

    success: bool
    export_id: int | None = None
    conversations: int | None = None
    message_count: int | None = None
    phases: Phases | None = None


class TaskStatus(BaseModel):
    """The Skype spec's ``TaskStatus``."""

    status: JobStatusName
    progress: int = Field(ge=0, le=100)
    message: str | None = None
    export_id: int | None = None
    error: str | None = None
    phase: str | None = None


class JobOut(BaseModel):
    """A job as ``GET /jobs/{id}`` answers it."""

    id: str
    type: str
    status: JobStatusName
    progress: int = Field(ge=0, le=100)
    phase: str | None = None
    message: str | None = None
    error: str | None = None
    result: dict[str, Any] | None = None
    file_id: int | None = None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None


class WebhookAck(BaseModel):
    model_config = ConfigDict(extra="allow")

    ok: bool = True


class DatasetUpload(BaseModel):
    """The PyAnalypt spec's upload answer."""

    id: str
    file: str
    original_filename: str
    file_size: int
    session_id: str | None
    uploaded_at: datetime

"""Request and response models of the ingest service."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

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


# --- Files (spec/file-processing-api.md; shapes of its OpenAPI document) ---

FilesStatus = Literal["success", "failed", "pending"]


class FileMetadata(BaseModel):
    """A stored file, as the Files spec's history and upload answer it (``sha256``,
    ``kind`` and ``source_file_id`` added)."""

    id: int
    filename: str
    s3_key: str
    s3_url: str
    size: int
    content_type: str
    uploaded_at: datetime
    sha256: str
    kind: str
    source_file_id: int | None = None


class FileUrl(BaseModel):
    file_url: str
    expires_in: int


class ConvertRequest(BaseModel):
    s3_key: str = Field(min_length=1, max_length=1024)
    format_from: str = Field(min_length=1, max_length=16)
    format_to: str = Field(min_length=1, max_length=16)


class PendingJob(BaseModel):
    """Added to every Files processing answer: the job that did (or does) the work."""

    job_id: str | None = None
    job_url: str | None = None
    cached: bool = False


class ConvertAnswer(PendingJob):
    file_url: str | None
    new_s3_key: str | None
    status: FilesStatus
    message: str | None
    file_id: int | None = None


def _keyword_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


Keyword = Annotated[str, Field(min_length=1, max_length=100)]


class ParseRequest(BaseModel):
    s3_key: str = Field(min_length=1, max_length=1024)
    keywords: Annotated[list[Keyword], BeforeValidator(_keyword_list)] = Field(
        min_length=1, max_length=50
    )


class ScoredKeyword(BaseModel):
    keyword: str
    score: float = Field(description="YAKE score: lower is more relevant")


class DetectedLanguage(BaseModel):
    code: str | None = Field(description="ISO 639-1")
    confidence: float


class ParseAnswer(PendingJob):
    count: int
    sentences: list[str]
    s3_key: str
    status: FilesStatus
    message: str | None = None
    keyword_counts: dict[str, int] = Field(default_factory=dict)
    sentence_total: int | None = None
    top_keywords: list[ScoredKeyword] = Field(default_factory=list)
    language: DetectedLanguage | None = None


class TonalityRequest(BaseModel):
    s3_key: str = Field(min_length=1, max_length=1024)


class SentenceTonality(BaseModel):
    text: str
    polarity: float
    subjectivity: float
    compound: float


class TonalityAnswer(PendingJob):
    s3_key: str
    polarity: float | None = None
    subjectivity: float | None = None
    objective_sentiment_score: float | None = None
    polarity_status: str | None = None
    polarity_description: str | None = None
    subjectivity_status: str | None = None
    subjectivity_description: str | None = None
    objective_sentiment_status: str | None = None
    objective_sentiment_description: str | None = None
    status: FilesStatus
    message: str | None = None
    sentiment_compound: float | None = None
    sentence_count: int | None = None
    sentences: list[SentenceTonality] = Field(default_factory=list)
    language: DetectedLanguage | None = None

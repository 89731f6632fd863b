"""Request and response models of the analysis service."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


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


# --- chat data (POST /client/chats) ---


class ChatMessageIn(BaseModel):
    """One chat-widget message. The user's IP is never a field: it is the address the
    gateway saw. ``user_agent`` and ``referrer`` default to the request's own headers."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    message: str = Field(min_length=1, max_length=10_000, description="The user's message")
    reply: str | None = Field(None, max_length=20_000, description="The bot's or agent's reply")
    conversation_id: str = Field(min_length=1, max_length=128)
    session_id: str | None = Field(None, max_length=128)
    token_cost: int | None = Field(None, ge=0, le=10_000_000, strict=True)
    user_agent: str | None = Field(None, max_length=1024)
    referrer: str | None = Field(None, max_length=2048)
    is_embed_user: bool = Field(True, strict=True)
    from_name: str | None = Field(None, max_length=200)
    from_user_id: str | None = Field(None, max_length=128)
    user_name: str | None = Field(None, max_length=200)
    user_email: str | None = Field(None, max_length=320)
    message_id: str | None = Field(
        None,
        min_length=1,
        max_length=128,
        description="The widget's own id: a message sent again with it is stored once",
    )
    timestamp: datetime | None = Field(
        None, description="When the message was sent (default: when it arrives)"
    )


class ChatBatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    messages: list[ChatMessageIn] = Field(min_length=1)


class ChatStored(BaseModel):
    success: bool = True
    id: str
    duplicate: bool
    conversation_id: str
    timestamp: datetime
    ip_type: str | None = None
    country_code: str | None = None


class ChatBatchStored(BaseModel):
    success: bool = True
    accepted: int
    duplicates: int
    ids: list[str]


# --- chat exports ---


class ChatExportRequest(BaseModel):
    """``POST /client/export/chats`` (the Export spec's fields, then Quarry's)."""

    format: str = Field("json", description="json, excel or both (a ZIP of the two)")
    date_from: str | None = Field(None, description="YYYY-MM-DD or an ISO 8601 date-time")
    date_to: str | None = Field(
        None, description="YYYY-MM-DD (that whole day) or an ISO 8601 date-time (inclusive)"
    )
    client_id: str | None = Field(
        None, description="The tenant to export (admins: any; users: only their own)"
    )
    conversation_id: str | None = None
    limit: int = Field(10_000, description="At most this many messages, newest first")
    include_geo: bool = False
    include_meta: bool = False
    include_full_ip: bool = Field(
        False, description="Administrators only: IP addresses as recorded, not anonymised"
    )


class ChatExportCreated(BaseModel):
    success: bool
    message: str
    file_size: int
    record_count: int
    export_id: str
    download_url: str
    filename: str
    format: str
    expires_at: datetime


class ChatExportInfo(BaseModel):
    export_id: str
    status: str
    format: str
    filename: str
    file_size: int | None
    record_count: int | None
    created_at: datetime
    expires_at: datetime
    download_url: str | None


class ChatExportAuditEntry(BaseModel):
    id: int
    at: datetime
    user_id: str
    username: str | None
    role: str
    requester_client_id: str | None
    action: str
    format: str | None
    filters: dict[str, Any]
    outcome: str
    error: str | None
    record_count: int | None
    file_size: int | None
    export_id: str | None
    finished_at: datetime | None
    request_id: str | None


class ChatExportAuditPage(BaseModel):
    entries: list[ChatExportAuditEntry]
    limit: int
    offset: int

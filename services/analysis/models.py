"""Tables of the analysis service, all in schema ``analysis``.

Skype exports: ``skype_exports`` (one per upload job; ``export_id`` is the Skype
spec's integer), its ``skype_messages`` (bulk-loaded with COPY, one row per message,
primary key ``(export_id, seq)`` so a second copy of a message cannot exist) and
``skype_conversations``; ``skype_export_chunks`` records which COPY chunks are in
(a redelivered job skips them). ``webhook_events``: the worker's events applied.

``skype_messages`` is indexed by ``(client_id, sent_at)``: the chat export reads a
tenant's messages by time.

Chat data and exports: ``chat_messages`` (the chat widget's, ``POST /client/chats``),
``chat_exports`` (export files kept in S3 for a while) and ``chat_export_audit``
(every export asked for).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Double,
    Identity,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, INET, JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.database import schema_metadata

SCHEMA = "analysis"


class Base(DeclarativeBase):
    metadata = schema_metadata(SCHEMA)


def _now() -> datetime:
    return datetime.now(UTC)


def _created_at() -> Mapped[datetime]:
    return mapped_column(
        DateTime(timezone=True), nullable=False, default=_now, server_default=func.now()
    )


class SkypeExport(Base):
    __tablename__ = "skype_exports"

    export_id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    job_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False, unique=True)
    file_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # Quarry's owner (tenant + account); the Skype account is skype_user_id.
    user_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    client_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    filename: Mapped[str | None] = mapped_column(String(512), nullable=True)
    user_display_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    size: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Where the worker writes this export's artifacts (artifacts/<job_id>/...).
    bucket: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # loading | ready | deleted (a deleted export keeps only this row, as a tombstone).
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="loading")
    skype_user_id: Mapped[str | None] = mapped_column(Text, nullable=True)
    export_date: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    conversation_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    message_count: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    skipped_count: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    analysis: Mapped[dict[str, Any] | None] = mapped_column(JSONB, nullable=True)
    # The job result an earlier attempt answered (a redelivered job answers it again).
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONB, nullable=True)
    created_at: Mapped[datetime] = _created_at()
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    __table_args__ = (Index("ix_skype_exports_client_created", "client_id", "created_at"),)


class SkypeExportChunk(Base):
    """A COPY chunk of an export's messages that is in: ``rows`` rows from ``first_seq``."""

    __tablename__ = "skype_export_chunks"

    export_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    chunk: Mapped[int] = mapped_column(Integer, nullable=False)
    first_seq: Mapped[int] = mapped_column(BigInteger, nullable=False)
    rows: Mapped[int] = mapped_column(Integer, nullable=False)
    duration_seconds: Mapped[float] = mapped_column(Double, nullable=False, default=0.0)
    loaded_at: Mapped[datetime] = _created_at()

    __table_args__ = (PrimaryKeyConstraint("export_id", "chunk"),)


class SkypeMessage(Base):
    """One message of an export, as the worker's COPY chunks carry it
    (services/ingest/worker/bulk_rows.py MESSAGE_COLUMNS, in that order)."""

    __tablename__ = "skype_messages"

    export_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    seq: Mapped[int] = mapped_column(BigInteger, nullable=False)
    client_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    conversation_id: Mapped[str] = mapped_column(Text, nullable=False)
    message_id: Mapped[str] = mapped_column(Text, nullable=False)
    sender_id: Mapped[str] = mapped_column(Text, nullable=False)
    sender_name: Mapped[str | None] = mapped_column(Text, nullable=True)
    sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    edited_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    category: Mapped[str] = mapped_column(String(16), nullable=False)
    raw_type: Mapped[str] = mapped_column(Text, nullable=False)
    content: Mapped[str] = mapped_column(Text, nullable=False)
    deleted: Mapped[bool] = mapped_column(Boolean, nullable=False)
    call_duration_s: Mapped[float | None] = mapped_column(Double, nullable=True)
    call_event: Mapped[str | None] = mapped_column(String(16), nullable=True)
    media_name: Mapped[str | None] = mapped_column(Text, nullable=True)
    media_size: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    quote_of: Mapped[str | None] = mapped_column(Text, nullable=True)
    edit_of: Mapped[str | None] = mapped_column(Text, nullable=True)
    mentions: Mapped[list[str] | None] = mapped_column(ARRAY(Text), nullable=True)

    __table_args__ = (
        PrimaryKeyConstraint("export_id", "seq"),
        Index("ix_skype_messages_client_sent", "client_id", "sent_at"),
    )


class SkypeConversation(Base):
    __tablename__ = "skype_conversations"

    export_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    conversation_id: Mapped[str] = mapped_column(Text, nullable=False)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    participants: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False)
    message_count: Mapped[int] = mapped_column(BigInteger, nullable=False)

    __table_args__ = (PrimaryKeyConstraint("export_id", "conversation_id"),)


class WebhookEvent(Base):
    """A webhook already applied, with the answer it got (a retry gets the same)."""

    __tablename__ = "webhook_events"

    event_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    topic: Mapped[str] = mapped_column(String(64), nullable=False)
    response: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    received_at: Mapped[datetime] = _created_at()

    __table_args__ = (Index("ix_webhook_events_received", "received_at"),)


class Dataset(Base):
    """A dataset upload (PyAnalypt) and its profile. Registered by ingest when the upload
    arrives (``processing``); the worker's webhook stores the profile (``completed``) or
    the reason (``failed``). A deleted or expired dataset stays as a tombstone
    (``deleted_at``, no data) so a job still running cannot bring it back."""

    __tablename__ = "datasets"
    __table_args__ = (
        Index("ix_datasets_client_uploaded", "client_id", "uploaded_at"),
        Index("ix_datasets_session_uploaded", "session_id", "uploaded_at"),
        Index("ix_datasets_expires_at", "expires_at"),
    )

    upload_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    job_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    file_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    user_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    client_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    session_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    original_filename: Mapped[str] = mapped_column(String(512), nullable=False)
    file_size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    profile: Mapped[dict[str, Any] | None] = mapped_column(JSONB, nullable=True)
    preview: Mapped[dict[str, Any] | None] = mapped_column(JSONB, nullable=True)
    uploaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    profiled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # Guest uploads only: after this the dataset and its object are removed.
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = _created_at()


class ChatMessage(Base):
    """A chat-widget message (``POST /client/chats``) of a tenant, with its reply, the
    caller's IP as the gateway saw it and what geolocation knew of it then.

    ``external_id`` is the widget's own id of the message: sent again (a retry), the
    message is stored once. The chat export reads these beside the tenant's Skype
    messages: indexed by ``(client_id, sent_at)`` and, for one conversation,
    ``(client_id, conversation_id, sent_at)``; ``sent_at`` alone serves admins'
    exports across tenants.
    """

    __tablename__ = "chat_messages"
    __table_args__ = (
        Index("ix_chat_messages_client_sent", "client_id", "sent_at"),
        Index(
            "ix_chat_messages_client_conversation_sent", "client_id", "conversation_id", "sent_at"
        ),
        Index("ix_chat_messages_sent", "sent_at"),
        Index(
            "ux_chat_messages_client_external",
            "client_id",
            "external_id",
            unique=True,
            postgresql_where=text("external_id IS NOT NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), nullable=False)
    # The account (API key or token) that posted it: the widget's, not the chat user's.
    posted_by: Mapped[str] = mapped_column(String(64), nullable=False)
    external_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    conversation_id: Mapped[str] = mapped_column(String(128), nullable=False)
    session_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    from_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    message: Mapped[str] = mapped_column(Text, nullable=False)
    reply: Mapped[str | None] = mapped_column(Text, nullable=True)
    token_cost: Mapped[int | None] = mapped_column(Integer, nullable=True)
    user_ip: Mapped[str | None] = mapped_column(INET, nullable=True)
    user_agent: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    referrer: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    is_embed_user: Mapped[bool] = mapped_column(Boolean, nullable=False)
    # The chat user in the tenant's own system, when the widget knows them.
    from_user_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    user_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    user_email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    country: Mapped[str | None] = mapped_column(String(100), nullable=True)
    country_code: Mapped[str | None] = mapped_column(String(2), nullable=True)
    isp: Mapped[str | None] = mapped_column(String(200), nullable=True)
    organization: Mapped[str | None] = mapped_column(String(200), nullable=True)
    ip_type: Mapped[str | None] = mapped_column(String(16), nullable=True)
    sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    created_at: Mapped[datetime] = _created_at()


class ChatExport(Base):
    """An export file kept in S3 (``POST /client/export/chats``) until ``expires_at``;
    the sweep removes the object and marks the row ``expired``."""

    __tablename__ = "chat_exports"
    __table_args__ = (
        Index("ix_chat_exports_requested_by_created", "requested_by", "created_at"),
        Index("ix_chat_exports_expires_at", "expires_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    requested_by: Mapped[str] = mapped_column(String(64), nullable=False)
    requester_client_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # The tenant exported; None: every tenant (an administrator's export).
    client_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    format: Mapped[str] = mapped_column(String(8), nullable=False)
    params: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    # building | ready | failed | expired
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    bucket: Mapped[str] = mapped_column(String(255), nullable=False)
    key: Mapped[str] = mapped_column(String(512), nullable=False)
    filename: Mapped[str] = mapped_column(String(255), nullable=False)
    content_type: Mapped[str] = mapped_column(String(128), nullable=False)
    file_size: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    record_count: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[datetime] = _created_at()
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class ChatExportAudit(Base):
    """Every export asked for: who, when, with which filters, what came out.

    Written when the request is accepted or refused (``outcome`` ``started``,
    ``denied``, ``invalid``) and completed when the file is done (``completed`` with
    the record count and size, ``failed``, or ``aborted`` when a download's client
    went away)."""

    __tablename__ = "chat_export_audit"
    __table_args__ = (
        Index("ix_chat_export_audit_at", "at"),
        Index("ix_chat_export_audit_user_at", "user_id", "at"),
        Index("ix_chat_export_audit_client_at", "requester_client_id", "at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    at: Mapped[datetime] = _created_at()
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    user_id: Mapped[str] = mapped_column(String(64), nullable=False)
    username: Mapped[str | None] = mapped_column(String(150), nullable=True)
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    requester_client_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # post (kept file), download (streamed), download_kept (a kept file fetched again)
    action: Mapped[str] = mapped_column(String(16), nullable=False)
    format: Mapped[str | None] = mapped_column(String(8), nullable=True)
    filters: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    outcome: Mapped[str] = mapped_column(String(16), nullable=False)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    record_count: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    file_size: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    export_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

"""Tables of the ingest service, all in schema ``ingest``.

- ``files``: every stored upload (and derived file), its object in S3 and what its
  content was sniffed to be;
- ``jobs``: the work done on a file by the parse worker, with its progress and result;
- ``outbox``: the queue message of each job, committed with the job and sent to SQS
  by the relay (a committed job is never lost);
- ``webhook_events``: the worker's webhooks already applied (idempotent by event id).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.database import schema_metadata

SCHEMA = "ingest"


class Base(DeclarativeBase):
    metadata = schema_metadata(SCHEMA)


def _now() -> datetime:
    return datetime.now(UTC)


def _timestamp(*, nullable: bool = False) -> Mapped[Any]:
    if nullable:
        return mapped_column(DateTime(timezone=True), nullable=True)
    return mapped_column(
        DateTime(timezone=True), nullable=False, default=_now, server_default=func.now()
    )


class File(Base):
    """An object in S3 and who owns it. ``id`` is the Files spec's integer id,
    ``public_id`` the PyAnalypt upload id."""

    __tablename__ = "files"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    public_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), nullable=False, unique=True, default=uuid.uuid4
    )
    user_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    client_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    session_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    original_filename: Mapped[str] = mapped_column(String(512), nullable=False)
    bucket: Mapped[str] = mapped_column(String(255), nullable=False)
    s3_key: Mapped[str] = mapped_column(String(1024), nullable=False)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    # Sniffed from the content (never the name or the declared type).
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    # What the client declared (informational only).
    content_type: Mapped[str | None] = mapped_column(String(255), nullable=True)
    purpose: Mapped[str] = mapped_column(String(32), nullable=False)
    source_file_id: Mapped[int | None] = mapped_column(
        ForeignKey("files.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = _timestamp()
    # Soft delete: the object is removed from S3, the row stays for the jobs that name it.
    deleted_at: Mapped[datetime | None] = _timestamp(nullable=True)

    __table_args__ = (
        Index("ix_files_client_created", "client_id", "created_at"),
        Index("ix_files_session_created", "session_id", "created_at"),
        # Files (spec/file-processing-api.md): a user's history, derived files, and
        # one stored copy per content and user (migration 0002).
        Index("ix_files_user_created", "user_id", "created_at"),
        Index("ix_files_source_file_id", "source_file_id"),
        Index(
            "ux_files_document_content",
            "user_id",
            "sha256",
            unique=True,
            postgresql_where=text("purpose = 'document' AND deleted_at IS NULL"),
        ),
    )


class Job(Base):
    """Work on a file. ``id`` is the Skype ``task_id``."""

    __tablename__ = "jobs"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    type: Mapped[str] = mapped_column(String(64), nullable=False)
    file_id: Mapped[int | None] = mapped_column(
        ForeignKey("files.id", ondelete="SET NULL"), nullable=True, index=True
    )
    user_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    client_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    session_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    progress: Mapped[int] = mapped_column(SmallInteger, nullable=False, default=0)
    phase: Mapped[str | None] = mapped_column(String(32), nullable=True)
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    params: Mapped[dict[str, Any]] = mapped_column(
        JSONB, nullable=False, default=dict, server_default=text("'{}'::jsonb")
    )
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONB, nullable=True)
    # Attempts the worker started (a webhook of an older attempt is ignored).
    attempt: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # Times the relay sent its message (the first send included).
    dispatches: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    created_at: Mapped[datetime] = _timestamp()
    updated_at: Mapped[datetime] = _timestamp()
    started_at: Mapped[datetime | None] = _timestamp(nullable=True)
    finished_at: Mapped[datetime | None] = _timestamp(nullable=True)
    # Last sign of life from a worker (progress, start) or of the relay's last send.
    heartbeat_at: Mapped[datetime] = _timestamp()

    __table_args__ = (
        Index("ix_jobs_client_created", "client_id", "created_at"),
        # The relay's sweep of unfinished jobs.
        Index(
            "ix_jobs_unfinished_heartbeat",
            "heartbeat_at",
            postgresql_where=text("status IN ('pending', 'running')"),
        ),
    )


class OutboxMessage(Base):
    """A queue message committed with its job; the relay sends it and stamps ``sent_at``."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    job_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False, index=True
    )
    body: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    created_at: Mapped[datetime] = _timestamp()
    available_at: Mapped[datetime] = _timestamp()
    sent_at: Mapped[datetime | None] = _timestamp(nullable=True)
    send_attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (
        Index("ix_outbox_unsent", "available_at", postgresql_where=text("sent_at IS NULL")),
    )


class WebhookEvent(Base):
    """A webhook already applied, with the answer it got (a retry gets the same)."""

    __tablename__ = "webhook_events"

    event_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    topic: Mapped[str] = mapped_column(String(64), nullable=False)
    response: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    received_at: Mapped[datetime] = _timestamp()

    __table_args__ = (Index("ix_webhook_events_received", "received_at"),)


class DocumentResult(Base):
    """A cached result of a Files operation (conversion, parsing, tonality), keyed by
    what determines it: the content's hash, the operation and its parameters."""

    __tablename__ = "document_results"

    cache_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    operation: Mapped[str] = mapped_column(String(32), nullable=False)
    content_sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    params: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    result: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    # A conversion's object: the entry goes when that object is removed.
    object_key: Mapped[str | None] = mapped_column(String(1024), nullable=True, index=True)
    created_at: Mapped[datetime] = _timestamp()

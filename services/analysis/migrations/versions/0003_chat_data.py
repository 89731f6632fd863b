"""chat data: chat-widget messages, kept export files, the export audit log

Revision ID: 0003_chat_data
Revises: 0002_datasets
Create Date: 2026-12-01 11:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003_chat_data"
down_revision: str | None = "0002_datasets"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "analysis"


def _created_at(name: str = "created_at") -> sa.Column:
    return sa.Column(
        name, sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
    )


def upgrade() -> None:
    op.create_table(
        "chat_messages",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("posted_by", sa.String(length=64), nullable=False),
        sa.Column("external_id", sa.String(length=128), nullable=True),
        sa.Column("conversation_id", sa.String(length=128), nullable=False),
        sa.Column("session_id", sa.String(length=128), nullable=True),
        sa.Column("from_name", sa.String(length=200), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("reply", sa.Text(), nullable=True),
        sa.Column("token_cost", sa.Integer(), nullable=True),
        sa.Column("user_ip", postgresql.INET(), nullable=True),
        sa.Column("user_agent", sa.String(length=1024), nullable=True),
        sa.Column("referrer", sa.String(length=2048), nullable=True),
        sa.Column("is_embed_user", sa.Boolean(), nullable=False),
        sa.Column("from_user_id", sa.String(length=128), nullable=True),
        sa.Column("user_name", sa.String(length=200), nullable=True),
        sa.Column("user_email", sa.String(length=320), nullable=True),
        sa.Column("country", sa.String(length=100), nullable=True),
        sa.Column("country_code", sa.String(length=2), nullable=True),
        sa.Column("isp", sa.String(length=200), nullable=True),
        sa.Column("organization", sa.String(length=200), nullable=True),
        sa.Column("ip_type", sa.String(length=16), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        _created_at(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_messages")),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_chat_messages_client_sent", "chat_messages", ["client_id", "sent_at"], schema=SCHEMA
    )
    op.create_index(
        "ix_chat_messages_client_conversation_sent",
        "chat_messages",
        ["client_id", "conversation_id", "sent_at"],
        schema=SCHEMA,
    )
    op.create_index("ix_chat_messages_sent", "chat_messages", ["sent_at"], schema=SCHEMA)
    op.create_index(
        "ux_chat_messages_client_external",
        "chat_messages",
        ["client_id", "external_id"],
        unique=True,
        schema=SCHEMA,
        postgresql_where=sa.text("external_id IS NOT NULL"),
    )

    op.create_table(
        "chat_exports",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("requester_client_id", sa.String(length=64), nullable=True),
        sa.Column("client_id", sa.String(length=64), nullable=True),
        sa.Column("format", sa.String(length=8), nullable=False),
        sa.Column("params", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("bucket", sa.String(length=255), nullable=False),
        sa.Column("key", sa.String(length=512), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=128), nullable=False),
        sa.Column("file_size", sa.BigInteger(), nullable=True),
        sa.Column("record_count", sa.BigInteger(), nullable=True),
        _created_at(),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_exports")),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_chat_exports_requested_by_created",
        "chat_exports",
        ["requested_by", "created_at"],
        schema=SCHEMA,
    )
    op.create_index("ix_chat_exports_expires_at", "chat_exports", ["expires_at"], schema=SCHEMA)

    op.create_table(
        "chat_export_audit",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        _created_at("at"),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("username", sa.String(length=150), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("requester_client_id", sa.String(length=64), nullable=True),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("format", sa.String(length=8), nullable=True),
        sa.Column("filters", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("record_count", sa.BigInteger(), nullable=True),
        sa.Column("file_size", sa.BigInteger(), nullable=True),
        sa.Column("export_id", sa.UUID(), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_export_audit")),
        schema=SCHEMA,
    )
    op.create_index("ix_chat_export_audit_at", "chat_export_audit", ["at"], schema=SCHEMA)
    op.create_index(
        "ix_chat_export_audit_user_at", "chat_export_audit", ["user_id", "at"], schema=SCHEMA
    )
    op.create_index(
        "ix_chat_export_audit_client_at",
        "chat_export_audit",
        ["requester_client_id", "at"],
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("chat_export_audit", schema=SCHEMA)
    op.drop_table("chat_exports", schema=SCHEMA)
    op.drop_table("chat_messages", schema=SCHEMA)

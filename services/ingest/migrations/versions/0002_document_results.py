"""documents: cached results, one stored copy per content and user, history indexes

Revision ID: 0002_document_results
Revises: 0001_files_jobs_outbox
Create Date: 2026-12-01 10:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002_document_results"
down_revision: str | None = "0001_files_jobs_outbox"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "document_results",
        sa.Column("cache_key", sa.String(length=64), nullable=False),
        sa.Column("operation", sa.String(length=32), nullable=False),
        sa.Column("content_sha256", sa.String(length=64), nullable=False),
        sa.Column("params", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("result", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("object_key", sa.String(length=1024), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("cache_key", name=op.f("pk_document_results")),
        schema="ingest",
    )
    op.create_index(
        op.f("ix_ingest_document_results_object_key"),
        "document_results",
        ["object_key"],
        unique=False,
        schema="ingest",
    )
    op.create_index(
        "ix_files_user_created", "files", ["user_id", "created_at"], unique=False, schema="ingest"
    )
    op.create_index(
        "ix_files_source_file_id", "files", ["source_file_id"], unique=False, schema="ingest"
    )
    op.create_index(
        "ux_files_document_content",
        "files",
        ["user_id", "sha256"],
        unique=True,
        schema="ingest",
        postgresql_where=sa.text("purpose = 'document' AND deleted_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index(
        "ux_files_document_content",
        table_name="files",
        schema="ingest",
        postgresql_where=sa.text("purpose = 'document' AND deleted_at IS NULL"),
    )
    op.drop_index("ix_files_source_file_id", table_name="files", schema="ingest")
    op.drop_index("ix_files_user_created", table_name="files", schema="ingest")
    op.drop_index(
        op.f("ix_ingest_document_results_object_key"),
        table_name="document_results",
        schema="ingest",
    )
    op.drop_table("document_results", schema="ingest")

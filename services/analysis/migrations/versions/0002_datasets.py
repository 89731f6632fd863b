"""datasets: dataset uploads and their profiles

Revision ID: 0002_datasets
Revises: 0001_skype_exports
Create Date: 2026-12-01 10:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002_datasets"
down_revision: str | None = "0001_skype_exports"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "datasets",
        sa.Column("upload_id", sa.UUID(), nullable=False),
        sa.Column("job_id", sa.UUID(), nullable=False),
        sa.Column("file_id", sa.BigInteger(), nullable=True),
        sa.Column("user_id", sa.String(length=64), nullable=True),
        sa.Column("client_id", sa.String(length=64), nullable=True),
        sa.Column("session_id", sa.String(length=128), nullable=True),
        sa.Column("original_filename", sa.String(length=512), nullable=False),
        sa.Column("file_size", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("profile", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("preview", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("profiled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("upload_id", name=op.f("pk_datasets")),
        schema="analysis",
    )
    op.create_index(
        "ix_datasets_client_uploaded", "datasets", ["client_id", "uploaded_at"], schema="analysis"
    )
    op.create_index(
        "ix_datasets_session_uploaded", "datasets", ["session_id", "uploaded_at"], schema="analysis"
    )
    op.create_index("ix_datasets_expires_at", "datasets", ["expires_at"], schema="analysis")


def downgrade() -> None:
    op.drop_index("ix_datasets_expires_at", table_name="datasets", schema="analysis")
    op.drop_index("ix_datasets_session_uploaded", table_name="datasets", schema="analysis")
    op.drop_index("ix_datasets_client_uploaded", table_name="datasets", schema="analysis")
    op.drop_table("datasets", schema="analysis")

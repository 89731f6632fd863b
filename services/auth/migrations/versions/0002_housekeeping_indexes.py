"""Indexes for housekeeping: ended sessions, expired refresh tokens, ended API keys.

The prune deletes (services.auth.service.housekeeping) select rows by these columns; without
them every batch would scan the whole table. The partial indexes leave out the
live rows (never revoked, never expiring), which are most of the table.
signing_keys holds a handful of rows and needs none.

Revision ID: 0002_housekeeping_indexes
Revises: 0001_initial
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_housekeeping_indexes"
down_revision: str | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "auth"


def upgrade() -> None:
    op.create_index(
        "ix_sessions_absolute_expires_at", "sessions", ["absolute_expires_at"], schema=SCHEMA
    )
    op.create_index(
        "ix_sessions_revoked_at",
        "sessions",
        ["revoked_at"],
        schema=SCHEMA,
        postgresql_where=sa.text("revoked_at IS NOT NULL"),
    )
    op.create_index("ix_refresh_tokens_expires_at", "refresh_tokens", ["expires_at"], schema=SCHEMA)
    op.create_index(
        "ix_api_keys_revoked_at",
        "api_keys",
        ["revoked_at"],
        schema=SCHEMA,
        postgresql_where=sa.text("revoked_at IS NOT NULL"),
    )
    op.create_index(
        "ix_api_keys_expires_at",
        "api_keys",
        ["expires_at"],
        schema=SCHEMA,
        postgresql_where=sa.text("expires_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_api_keys_expires_at", table_name="api_keys", schema=SCHEMA)
    op.drop_index("ix_api_keys_revoked_at", table_name="api_keys", schema=SCHEMA)
    op.drop_index("ix_refresh_tokens_expires_at", table_name="refresh_tokens", schema=SCHEMA)
    op.drop_index("ix_sessions_revoked_at", table_name="sessions", schema=SCHEMA)
    op.drop_index("ix_sessions_absolute_expires_at", table_name="sessions", schema=SCHEMA)

"""The revocation record: every revoked handle, written with the revocation itself.

``/internal/revocations`` serves it (with a ``since`` cursor), and it is the outbox of
the Redis publication, so a revocation committed while Redis is down reaches Redis
when it returns. Revocations of the last day are copied in from sessions and API
keys (unpublished: the relay publishes them again, which is harmless).

Revision ID: 0003_revocations
Revises: 0002_housekeeping_indexes
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_revocations"
down_revision: str | None = "0002_housekeeping_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "auth"


def upgrade() -> None:
    op.create_table(
        "revocations",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), primary_key=True),
        sa.Column("handle", sa.String(80), nullable=False),
        sa.Column(
            "revoked_at",
            sa.DateTime(timezone=True),
            nullable=False,
            server_default=sa.func.clock_timestamp(),
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        schema=SCHEMA,
    )
    op.create_index("ix_revocations_revoked_at", "revocations", ["revoked_at"], schema=SCHEMA)
    op.create_index(
        "ix_revocations_unpublished",
        "revocations",
        ["id"],
        schema=SCHEMA,
        postgresql_where=sa.text("published_at IS NULL"),
    )
    # The longest an access token can live is one day (AuthSettings' bound), plus leeway.
    op.execute(
        """
        INSERT INTO auth.revocations (handle, revoked_at, expires_at)
        SELECT handle, revoked_at, revoked_at + interval '1 day 5 seconds' FROM (
            SELECT id::text AS handle, revoked_at FROM auth.sessions
            WHERE revoked_at > now() - interval '1 day'
            UNION ALL
            SELECT 'key:' || id::text, revoked_at FROM auth.api_keys
            WHERE revoked_at > now() - interval '1 day'
        ) AS recent
        ORDER BY revoked_at
        """
    )


def downgrade() -> None:
    op.drop_table("revocations", schema=SCHEMA)

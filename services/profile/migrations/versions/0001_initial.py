"""Initial profile schema: avatar images (by sha256), profiles, live sessions and their comments.

Revision ID: 0001_initial
Revises:
Create Date: 2026-12-01 09:15:09.909227
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001_initial"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "avatar_images",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content_type", sa.String(length=64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_avatar_images")),
        schema="profile",
    )
    op.create_table(
        "live_sessions",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("session_id", sa.String(length=200), nullable=False),
        sa.Column("streamer", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("end_reason", sa.String(length=200), nullable=True),
        sa.Column("comment_count", sa.BigInteger(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("connected_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_live_sessions")),
        sa.UniqueConstraint("client_id", "session_id", name="uq_live_sessions_client_session"),
        schema="profile",
    )
    op.create_index(
        "ix_live_sessions_streamer_status",
        "live_sessions",
        ["streamer", "status"],
        unique=False,
        schema="profile",
    )
    op.create_table(
        "live_comments",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("session_pk", sa.UUID(), nullable=False),
        sa.Column("comment_id", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("nickname", sa.String(length=200), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("avatar_url", sa.Text(), nullable=True),
        sa.Column("commented_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "received_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["session_pk"],
            ["profile.live_sessions.id"],
            name=op.f("fk_live_comments_session_pk_live_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_live_comments")),
        schema="profile",
    )
    op.create_index(
        "ix_live_comments_session_id",
        "live_comments",
        ["session_pk", "id"],
        unique=False,
        schema="profile",
    )
    op.create_table(
        "profiles",
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("nickname", sa.String(length=200), nullable=False),
        sa.Column("exists", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("avatar_url", sa.Text(), nullable=True),
        sa.Column("image_hash", sa.String(length=64), nullable=False),
        sa.Column("cached_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("live_avatar_url", sa.Text(), nullable=True),
        sa.Column("live_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["image_hash"],
            ["profile.avatar_images.sha256"],
            name=op.f("fk_profiles_image_hash_avatar_images"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("username", name=op.f("pk_profiles")),
        schema="profile",
    )
    op.create_index(
        op.f("ix_profile_profiles_image_hash"),
        "profiles",
        ["image_hash"],
        unique=False,
        schema="profile",
    )
    op.create_index(
        "ix_profiles_expires_at", "profiles", ["expires_at"], unique=False, schema="profile"
    )


def downgrade() -> None:
    op.drop_index("ix_profiles_expires_at", table_name="profiles", schema="profile")
    op.drop_index(op.f("ix_profile_profiles_image_hash"), table_name="profiles", schema="profile")
    op.drop_table("profiles", schema="profile")
    op.drop_index("ix_live_comments_session_id", table_name="live_comments", schema="profile")
    op.drop_table("live_comments", schema="profile")
    op.drop_index("ix_live_sessions_streamer_status", table_name="live_sessions", schema="profile")
    op.drop_table("live_sessions", schema="profile")
    op.drop_table("avatar_images", schema="profile")

"""E-mail addresses unique in their normalised form (NFKC, case-folded).

Fills ``email_normalized`` for every existing account with the same function the
service uses (services.auth.security.emails), and replaces the ``lower(email)`` unique
index by one on it. Two existing accounts whose addresses normalise alike (possible
only for addresses registered before this revision, e.g. a fullwidth ``alice@`` beside
``alice@``): the older keeps the address; the newer gets ``<normalised>#<user id>``, so
it can no longer log in by e-mail (its username still works) and no new account can
take the address; each such account is printed.

Revision ID: 0004_email_normalized
Revises: 0003_revocations
Create Date: 2026-11-24
"""

import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_email_normalized"
down_revision: str | None = "0003_revocations"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "auth"


def _normalized(address: str) -> str:
    # A copy of services.auth.security.emails.normalized_email as of this revision
    # (a migration must not change when the code it once called changes).
    local, _, domain = unicodedata.normalize("NFKC", address.strip()).rpartition("@")
    canonical = f"{local}@{domain.casefold()}" if local else address.strip()
    return unicodedata.normalize("NFKC", canonical.casefold())


def upgrade() -> None:
    op.add_column(
        "users", sa.Column("email_normalized", sa.String(400), nullable=True), schema=SCHEMA
    )
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, email FROM auth.users ORDER BY created_at, id")).all()
    seen: set[str] = set()
    for user_id, email in rows:
        value = _normalized(email)
        if value in seen:
            print(f"auth 0004: account {user_id} shares e-mail {value!r} with an older one")
            value = f"{value}#{user_id}"
        seen.add(value)
        bind.execute(
            sa.text("UPDATE auth.users SET email_normalized = :v WHERE id = :id"),
            {"v": value, "id": user_id},
        )
    op.alter_column("users", "email_normalized", nullable=False, schema=SCHEMA)
    op.drop_index("uq_users_email_lower", table_name="users", schema=SCHEMA)
    op.create_index(
        "uq_users_email_normalized", "users", ["email_normalized"], unique=True, schema=SCHEMA
    )


def downgrade() -> None:
    op.drop_index("uq_users_email_normalized", table_name="users", schema=SCHEMA)
    op.create_index(
        "uq_users_email_lower",
        "users",
        [sa.literal_column("lower(email)")],
        unique=True,
        schema=SCHEMA,
    )
    op.drop_column("users", "email_normalized", schema=SCHEMA)

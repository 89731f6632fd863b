"""Tables of the auth service, all in schema ``auth``.

Secrets are never stored in the clear: passwords as argon2id hashes, session
cookies, refresh tokens and API keys as SHA-256 digests (they are high-entropy
random values), signing keys and TOTP secrets encrypted with a key derived from
``AUTH_KEY_ENCRYPTION_SECRET``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    LargeBinary,
    String,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.database import schema_metadata

SCHEMA = "auth"


class Base(DeclarativeBase):
    metadata = schema_metadata(SCHEMA)


def _uuid_pk() -> Mapped[uuid.UUID]:
    return mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)


def _now() -> datetime:
    return datetime.now(UTC)


def _created_at() -> Mapped[datetime]:
    # Set in Python too, so a freshly flushed row can be answered without a reload.
    return mapped_column(
        DateTime(timezone=True), nullable=False, default=_now, server_default=func.now()
    )


class Client(Base):
    """A tenant: every user belongs to exactly one."""

    __tablename__ = "clients"

    id: Mapped[uuid.UUID] = _uuid_pk()
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    personal: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at: Mapped[datetime] = _created_at()


class User(Base):
    __tablename__ = "users"

    id: Mapped[uuid.UUID] = _uuid_pk()
    client_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("clients.id", ondelete="RESTRICT"), nullable=False, index=True
    )
    username: Mapped[str] = mapped_column(String(150), nullable=False)
    email: Mapped[str] = mapped_column(String(320), nullable=False)
    # NFKC + case-folded (services.auth.security.emails): what uniqueness and e-mail
    # logins compare.
    email_normalized: Mapped[str] = mapped_column(String(400), nullable=False)
    display_name: Mapped[str] = mapped_column(String(200), nullable=False)
    # NULL for machine accounts that never log in with a password.
    password_hash: Mapped[str | None] = mapped_column(Text, nullable=True)
    role: Mapped[str] = mapped_column(String(16), nullable=False, default="user")
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True),
        nullable=False,
        default=_now,
        server_default=func.now(),
        onupdate=func.now(),
    )
    # TOTP: the confirmed secret, an enrolment awaiting its first code, and the
    # last accepted time step (a code of that step or earlier is never accepted again).
    totp_secret: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    totp_pending_secret: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    totp_enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


# Case-insensitive uniqueness: "Alice" and "alice" are one account; e-mail addresses
# are unique in their normalised form (compatibility characters and case folded).
Index("uq_users_username_lower", func.lower(User.username), unique=True)
Index("uq_users_email_normalized", User.email_normalized, unique=True)


class LoginSession(Base):
    """One login: the ``sid`` of its access tokens, its cookie and its refresh-token family."""

    __tablename__ = "sessions"

    id: Mapped[uuid.UUID] = _uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    # SHA-256 of the cookie value; NULL for a login that set no cookie.
    cookie_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32), nullable=True, unique=True)
    auth_method: Mapped[str] = mapped_column(String(16), nullable=False)
    created_at: Mapped[datetime] = _created_at()
    last_seen_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, default=_now, server_default=func.now()
    )
    # Sliding idle expiry, never beyond absolute_expires_at.
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    absolute_expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked_reason: Mapped[str | None] = mapped_column(String(64), nullable=True)
    ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    user_agent: Mapped[str | None] = mapped_column(String(400), nullable=True)


# Housekeeping finds ended sessions by these (migration 0002); the partial index
# also serves the revocation feed (revoked_at > since).
Index("ix_sessions_absolute_expires_at", LoginSession.absolute_expires_at)
Index(
    "ix_sessions_revoked_at",
    LoginSession.revoked_at,
    postgresql_where=LoginSession.revoked_at.is_not(None),
)


class RefreshToken(Base):
    """One link of a refresh-token family (the family is its session)."""

    __tablename__ = "refresh_tokens"

    id: Mapped[uuid.UUID] = _uuid_pk()
    session_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False, index=True
    )
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), nullable=False, unique=True)
    created_at: Mapped[datetime] = _created_at()
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    # Set when exchanged: presenting a spent token again revokes the whole family.
    spent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


Index("ix_refresh_tokens_expires_at", RefreshToken.expires_at)


class ApiKey(Base):
    """A ``pk_`` key (Profile) or the per-user ``sk_`` key (Skype)."""

    __tablename__ = "api_keys"

    id: Mapped[uuid.UUID] = _uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    kind: Mapped[str] = mapped_column(String(8), nullable=False)  # "pk" | "sk"
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    # The lookup prefix (random, public); the key's secret part is only in key_hash.
    prefix: Mapped[str] = mapped_column(String(16), nullable=False, unique=True)
    key_hash: Mapped[bytes] = mapped_column(LargeBinary(32), nullable=False)
    permissions: Mapped[list[str]] = mapped_column(ARRAY(String(64)), nullable=False)
    created_at: Mapped[datetime] = _created_at()
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


Index("ix_api_keys_revoked_at", ApiKey.revoked_at, postgresql_where=ApiKey.revoked_at.is_not(None))
Index("ix_api_keys_expires_at", ApiKey.expires_at, postgresql_where=ApiKey.expires_at.is_not(None))


class Revocation(Base):
    """A revoked handle (a session id or ``key:<api key id>``), written in the transaction
    that revokes it: the durable record ``/internal/revocations`` serves, and the outbox
    of its Redis publication (``published_at`` is NULL until Redis has it)."""

    __tablename__ = "revocations"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    handle: Mapped[str] = mapped_column(String(80), nullable=False)
    # The database's clock (not a replica's), so one clock orders the feed's cursor.
    revoked_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.clock_timestamp()
    )
    # When the handle's last access token expires: the entry matters until then.
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


# The feed reads by revoked_at; the relay finds what Redis has not got yet.
Index("ix_revocations_revoked_at", Revocation.revoked_at)
Index(
    "ix_revocations_unpublished",
    Revocation.id,
    postgresql_where=Revocation.published_at.is_(None),
)


class SigningKey(Base):
    """An Ed25519 token-signing key; the private half encrypted at rest."""

    __tablename__ = "signing_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    algorithm: Mapped[str] = mapped_column(String(16), nullable=False, default="EdDSA")
    public_jwk: Mapped[dict[str, str]] = mapped_column(JSONB, nullable=False)
    private_key_encrypted: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    created_at: Mapped[datetime] = _created_at()
    # Published in the JWKS from creation; signs from activates_at until retired_at.
    activates_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

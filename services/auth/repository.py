"""Every SQL statement of the auth service. No rules here: the service layer decides."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, delete, func, insert, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from services.auth.models import (
    ApiKey,
    Client,
    LoginSession,
    RefreshToken,
    Revocation,
    SigningKey,
    User,
)


class AuthRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def lock(self, name: str) -> None:
        """A transaction-scoped advisory lock (start-up tasks of several replicas)."""
        await self.session.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:name))"), {"name": f"auth:{name}"}
        )

    async def try_lock_for_connection(self, name: str) -> bool:
        """A connection-scoped advisory lock, without waiting: ``False`` when another
        connection holds it. Outlives commits; released by :meth:`unlock_for_connection`
        or when the connection closes."""
        stmt = text("SELECT pg_try_advisory_lock(hashtext(:name))")
        return bool((await self.session.execute(stmt, {"name": f"auth:{name}"})).scalar_one())

    async def unlock_for_connection(self, name: str) -> None:
        await self.session.execute(
            text("SELECT pg_advisory_unlock(hashtext(:name))"), {"name": f"auth:{name}"}
        )

    # clients and users

    async def add_client(self, name: str, *, personal: bool) -> Client:
        client = Client(id=uuid.uuid4(), name=name, personal=personal)
        self.session.add(client)
        await self.session.flush()
        return client

    async def add_user(self, user: User) -> User:
        self.session.add(user)
        await self.session.flush()
        return user

    async def user_by_id(self, user_id: uuid.UUID) -> User | None:
        return await self.session.get(User, user_id)

    async def user_by_username(self, username: str) -> User | None:
        stmt = select(User).where(func.lower(User.username) == username.lower())
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def user_by_email(self, email_normalized: str) -> User | None:
        stmt = select(User).where(User.email_normalized == email_normalized)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def taken(self, username: str, email_normalized: str) -> tuple[bool, bool]:
        """Whether the username (case-insensitive) and the normalised e-mail are registered."""
        stmt = select(func.lower(User.username), User.email_normalized).where(
            or_(
                func.lower(User.username) == username.lower(),
                User.email_normalized == email_normalized,
            )
        )
        rows = (await self.session.execute(stmt)).all()
        return (
            any(r[0] == username.lower() for r in rows),
            any(r[1] == email_normalized for r in rows),
        )

    async def lock_user(self, user_id: uuid.UUID) -> None:
        """Lock the account's row until commit: changes to one account's credentials
        made by concurrent requests run one after the other."""
        await self.session.execute(select(User.id).where(User.id == user_id).with_for_update())

    async def set_password_hash(self, user_id: uuid.UUID, password_hash: str) -> None:
        await self.session.execute(
            update(User).where(User.id == user_id).values(password_hash=password_hash)
        )

    # TOTP

    async def set_pending_totp(self, user_id: uuid.UUID, sealed_secret: bytes) -> None:
        await self.session.execute(
            update(User).where(User.id == user_id).values(totp_pending_secret=sealed_secret)
        )

    async def enable_totp(self, user_id: uuid.UUID, sealed_secret: bytes, step: int) -> None:
        await self.session.execute(
            update(User)
            .where(User.id == user_id)
            .values(
                totp_secret=sealed_secret,
                totp_pending_secret=None,
                totp_enabled=True,
                totp_last_step=step,
            )
        )

    async def disable_totp(self, user_id: uuid.UUID) -> None:
        await self.session.execute(
            update(User)
            .where(User.id == user_id)
            .values(totp_secret=None, totp_pending_secret=None, totp_enabled=False)
        )

    async def claim_totp_step(self, user_id: uuid.UUID, step: int) -> bool:
        """Record ``step`` as used; ``False`` when it (or a later one) was used already.

        One conditional UPDATE, so two concurrent logins cannot both spend one code.
        """
        stmt = (
            update(User)
            .where(
                User.id == user_id,
                or_(User.totp_last_step.is_(None), User.totp_last_step < step),
            )
            .values(totp_last_step=step)
            .returning(User.id)
        )
        return (await self.session.execute(stmt)).first() is not None

    # sessions and refresh tokens

    async def add_session(self, login: LoginSession) -> LoginSession:
        self.session.add(login)
        await self.session.flush()
        return login

    async def session_by_id(self, session_id: uuid.UUID) -> LoginSession | None:
        return await self.session.get(LoginSession, session_id)

    async def session_by_cookie(self, cookie_hash: bytes) -> tuple[LoginSession, User] | None:
        stmt = (
            select(LoginSession, User)
            .join(User, User.id == LoginSession.user_id)
            .where(LoginSession.cookie_hash == cookie_hash)
        )
        row = (await self.session.execute(stmt)).first()
        return None if row is None else (row[0], row[1])

    async def touch_session(
        self, session_id: uuid.UUID, now: datetime, expires_at: datetime, *, stale_before: datetime
    ) -> None:
        """Slide the idle expiry, at most once per touch interval (no write per request)."""
        await self.session.execute(
            update(LoginSession)
            .where(LoginSession.id == session_id, LoginSession.last_seen_at < stale_before)
            .values(last_seen_at=now, expires_at=expires_at)
        )

    async def revoke_session(self, session_id: uuid.UUID, now: datetime, reason: str) -> bool:
        stmt = (
            update(LoginSession)
            .where(LoginSession.id == session_id, LoginSession.revoked_at.is_(None))
            .values(revoked_at=now, revoked_reason=reason)
            .returning(LoginSession.id)
        )
        return (await self.session.execute(stmt)).first() is not None

    async def revoke_sessions_of_user(
        self, user_id: uuid.UUID, now: datetime, reason: str, *, keep: uuid.UUID | None = None
    ) -> list[uuid.UUID]:
        stmt = (
            update(LoginSession)
            .where(
                LoginSession.user_id == user_id,
                LoginSession.revoked_at.is_(None),
                LoginSession.absolute_expires_at > now,
            )
            .values(revoked_at=now, revoked_reason=reason)
            .returning(LoginSession.id)
        )
        if keep is not None:
            stmt = stmt.where(LoginSession.id != keep)
        return [row[0] for row in (await self.session.execute(stmt)).all()]

    async def add_refresh_token(
        self, session_id: uuid.UUID, token_hash: bytes, expires_at: datetime
    ) -> None:
        self.session.add(
            RefreshToken(
                id=uuid.uuid4(),
                session_id=session_id,
                token_hash=token_hash,
                expires_at=expires_at,
            )
        )
        await self.session.flush()

    async def refresh_token_for_update(
        self, token_hash: bytes
    ) -> tuple[RefreshToken, LoginSession, User] | None:
        """The token, its family (session) and user, the token row locked for the exchange."""
        stmt = (
            select(RefreshToken, LoginSession, User)
            .join(LoginSession, LoginSession.id == RefreshToken.session_id)
            .join(User, User.id == LoginSession.user_id)
            .where(RefreshToken.token_hash == token_hash)
            .with_for_update(of=RefreshToken)
        )
        row = (await self.session.execute(stmt)).first()
        return None if row is None else (row[0], row[1], row[2])

    async def spend_refresh_token(self, token_id: uuid.UUID, now: datetime) -> None:
        await self.session.execute(
            update(RefreshToken).where(RefreshToken.id == token_id).values(spent_at=now)
        )

    async def extend_session(
        self, session_id: uuid.UUID, now: datetime, expires_at: datetime
    ) -> None:
        await self.session.execute(
            update(LoginSession)
            .where(LoginSession.id == session_id)
            .values(last_seen_at=now, expires_at=expires_at)
        )

    # API keys

    async def add_api_key(self, key: ApiKey) -> ApiKey:
        self.session.add(key)
        await self.session.flush()
        return key

    async def api_key_by_prefix(self, prefix: str) -> tuple[ApiKey, User] | None:
        stmt = (
            select(ApiKey, User)
            .join(User, User.id == ApiKey.user_id)
            .where(ApiKey.prefix == prefix)
        )
        row = (await self.session.execute(stmt)).first()
        return None if row is None else (row[0], row[1])

    async def api_key_by_id(self, key_id: uuid.UUID) -> ApiKey | None:
        return await self.session.get(ApiKey, key_id)

    async def api_keys_of_user(self, user_id: uuid.UUID) -> Sequence[ApiKey]:
        stmt = (
            select(ApiKey)
            .where(ApiKey.user_id == user_id, ApiKey.revoked_at.is_(None))
            .order_by(ApiKey.created_at, ApiKey.id)
        )
        return (await self.session.execute(stmt)).scalars().all()

    async def live_skype_key(self, user_id: uuid.UUID) -> ApiKey | None:
        stmt = (
            select(ApiKey)
            .where(ApiKey.user_id == user_id, ApiKey.kind == "sk", ApiKey.revoked_at.is_(None))
            .order_by(ApiKey.created_at.desc())
            .limit(1)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def revoke_api_key(self, key_id: uuid.UUID, now: datetime) -> bool:
        stmt = (
            update(ApiKey)
            .where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
            .values(revoked_at=now)
            .returning(ApiKey.id)
        )
        return (await self.session.execute(stmt)).first() is not None

    async def revoke_skype_keys(self, user_id: uuid.UUID, now: datetime) -> list[uuid.UUID]:
        stmt = (
            update(ApiKey)
            .where(ApiKey.user_id == user_id, ApiKey.kind == "sk", ApiKey.revoked_at.is_(None))
            .values(revoked_at=now)
            .returning(ApiKey.id)
        )
        return [row[0] for row in (await self.session.execute(stmt)).all()]

    async def touch_api_key(
        self, key_id: uuid.UUID, now: datetime, *, stale_before: datetime
    ) -> None:
        """Record use, at most once per touch interval (no write per request)."""
        await self.session.execute(
            update(ApiKey)
            .where(
                ApiKey.id == key_id,
                or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < stale_before),
            )
            .values(last_used_at=now)
        )

    # revocations: the durable record (the feed) and the outbox of their publication

    async def add_revocations(
        self, handles: Sequence[str], expires_at: datetime
    ) -> list[tuple[int, str]]:
        """Record revoked handles in the current transaction; ``(id, handle)`` of each."""
        if not handles:
            return []
        stmt = (
            insert(Revocation)
            .values([{"handle": h, "expires_at": expires_at} for h in handles])
            .returning(Revocation.id, Revocation.handle)
        )
        return [(row[0], row[1]) for row in (await self.session.execute(stmt)).all()]

    async def database_time(self) -> datetime:
        """The database's clock (the one that stamps ``revoked_at``)."""
        now: datetime = (await self.session.execute(select(func.clock_timestamp()))).scalar_one()
        return now

    async def revocation_feed(
        self, now: datetime, since: datetime | None
    ) -> list[tuple[str, datetime]]:
        """Handles whose last token is unexpired at ``now``, revoked after ``since``
        (all of them when ``None``), oldest first."""
        stmt = (
            select(Revocation.handle, Revocation.expires_at)
            .where(Revocation.expires_at > now)
            .order_by(Revocation.revoked_at, Revocation.id)
        )
        if since is not None:
            stmt = stmt.where(Revocation.revoked_at > since)
        return [(row[0], row[1]) for row in (await self.session.execute(stmt)).all()]

    async def unpublished_revocations(
        self, now: datetime, limit: int
    ) -> list[tuple[int, str, datetime]]:
        """Revocations Redis has not got yet (and still needs), locked for this relay;
        rows another replica is publishing are skipped."""
        stmt = (
            select(Revocation.id, Revocation.handle, Revocation.expires_at)
            .where(Revocation.published_at.is_(None), Revocation.expires_at > now)
            .order_by(Revocation.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [(r[0], r[1], r[2]) for r in (await self.session.execute(stmt)).all()]

    async def mark_revocations_published(self, ids: Sequence[int], now: datetime) -> None:
        if ids:
            await self.session.execute(
                update(Revocation).where(Revocation.id.in_(ids)).values(published_at=now)
            )

    async def count_unpublished_revocations(self, now: datetime) -> int:
        stmt = select(func.count()).where(
            Revocation.published_at.is_(None), Revocation.expires_at > now
        )
        return int((await self.session.execute(stmt)).scalar_one())

    # signing keys

    async def published_signing_keys(self, retired_after: datetime) -> Sequence[SigningKey]:
        stmt = (
            select(SigningKey)
            .where(or_(SigningKey.retired_at.is_(None), SigningKey.retired_at > retired_after))
            .order_by(SigningKey.activates_at)
        )
        return (await self.session.execute(stmt)).scalars().all()

    async def add_signing_key(self, key: SigningKey) -> None:
        self.session.add(key)
        await self.session.flush()

    async def retire_signing_keys(self, at: datetime) -> None:
        """Every key stops signing at ``at`` (its successor's start) at the latest."""
        await self.session.execute(
            update(SigningKey)
            .where(or_(SigningKey.retired_at.is_(None), SigningKey.retired_at > at))
            .values(retired_at=at)
        )

    # housekeeping: bounded deletes (the caller loops and commits between batches)

    async def _delete_batch(
        self,
        model: type[Any],
        key: InstrumentedAttribute[Any],
        *where: ColumnElement[bool],
        limit: int,
    ) -> int:
        """Delete at most ``limit`` rows matching ``where``; rows another transaction
        holds locked (a refresh in progress) are skipped, not waited for."""
        batch = (
            select(key).where(*where).limit(limit).with_for_update(skip_locked=True)
        ).scalar_subquery()
        stmt = delete(model).where(key.in_(batch)).execution_options(synchronize_session=False)
        return cast(CursorResult[Any], await self.session.execute(stmt)).rowcount

    @staticmethod
    def _session_ended_before(cutoff: datetime) -> ColumnElement[bool]:
        return or_(LoginSession.revoked_at < cutoff, LoginSession.absolute_expires_at < cutoff)

    async def delete_refresh_tokens_of_ended_sessions(self, cutoff: datetime, limit: int) -> int:
        """Tokens of sessions revoked or absolutely expired before ``cutoff``."""
        ended = select(LoginSession.id).where(self._session_ended_before(cutoff))
        return await self._delete_batch(
            RefreshToken, RefreshToken.id, RefreshToken.session_id.in_(ended), limit=limit
        )

    async def delete_refresh_tokens_expired_before(self, cutoff: datetime, limit: int) -> int:
        return await self._delete_batch(
            RefreshToken, RefreshToken.id, RefreshToken.expires_at < cutoff, limit=limit
        )

    async def delete_sessions_ended_before(self, cutoff: datetime, limit: int) -> int:
        """Sessions revoked or absolutely expired before ``cutoff`` (their remaining
        refresh tokens go with them: ON DELETE CASCADE)."""
        return await self._delete_batch(
            LoginSession, LoginSession.id, self._session_ended_before(cutoff), limit=limit
        )

    async def delete_api_keys_ended_before(self, cutoff: datetime, limit: int) -> int:
        """Keys revoked or expired before ``cutoff``; a live key never matches."""
        return await self._delete_batch(
            ApiKey,
            ApiKey.id,
            or_(ApiKey.revoked_at < cutoff, ApiKey.expires_at < cutoff),
            limit=limit,
        )

    async def delete_revocations_expired_before(self, cutoff: datetime, limit: int) -> int:
        """Revocation records no token can need any more (its last one expired)."""
        return await self._delete_batch(
            Revocation, Revocation.id, Revocation.expires_at < cutoff, limit=limit
        )

    async def delete_signing_keys_retired_before(self, cutoff: datetime, limit: int) -> int:
        """Keys that stopped signing before ``cutoff``; the signing key (never retired,
        or retired in the future by a scheduled successor) never matches."""
        return await self._delete_batch(
            SigningKey,
            SigningKey.kid,
            SigningKey.retired_at.is_not(None),
            SigningKey.retired_at < cutoff,
            limit=limit,
        )

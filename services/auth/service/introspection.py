"""Introspection for the gateway: an API key or a session cookie in, a short-lived
access token for its principal out (``{"active": false}`` for anything else)."""

from __future__ import annotations

import hmac
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from services.auth.repository import AuthRepository
from services.auth.security.access_tokens import IssuedToken
from services.auth.security.credentials import (
    digest,
    key_sid,
    key_usable,
    parse_api_key,
    same_digest,
)
from services.auth.service.accounts import identity_for
from services.auth.service.revocations import feed_since
from services.auth.service.runtime import AuthRuntime
from services.auth.service.sessions import idle_expiry
from shared.identity import AuthMethod, Role
from shared.permissions import role_allows


class IntrospectionService:
    def __init__(self, runtime: AuthRuntime, db: AsyncSession) -> None:
        self.rt = runtime
        self.db = db
        self.repo = AuthRepository(db)

    def _ttl(self, now: datetime, *limits: datetime | None) -> int:
        ttl = self.rt.settings.introspection_token_ttl_seconds
        for limit in limits:
            if limit is not None:
                ttl = min(ttl, int((limit - now).total_seconds()))
        return ttl

    async def api_key(self, raw: str) -> IssuedToken | None:
        dev_key, dev = self.rt.dev_key, self.rt.dev_identity
        if (
            dev_key is not None
            and dev is not None
            and hmac.compare_digest(raw.encode(), dev_key.encode())
        ):
            return await self.rt.issuer.issue(dev, self.rt.settings.introspection_token_ttl_seconds)
        parts = parse_api_key(raw)
        if parts is None:
            return None
        found = await self.repo.api_key_by_prefix(parts.prefix)
        if found is None:
            return None
        key, user = found
        now = datetime.now(UTC)
        if (
            key.kind != parts.kind
            or not same_digest(raw, key.key_hash)
            or not key_usable(key, now)
            or not user.is_active
        ):
            return None
        ttl = self._ttl(now, key.expires_at)
        if ttl < 1:
            return None
        stale_before = now - timedelta(seconds=self.rt.settings.touch_interval_seconds)
        if key.last_used_at is None or key.last_used_at < stale_before:
            await self.repo.touch_api_key(key.id, now, stale_before=stale_before)
            await self.db.commit()
        # What the role no longer allows (a demoted owner, a key from before the check)
        # is dropped rather than honoured.
        role = Role(user.role)
        scopes = tuple(p for p in key.permissions if role_allows(role, p))
        identity = identity_for(user, key_sid(key.id), AuthMethod.API_KEY, scopes)
        return await self.rt.issuer.issue(identity, ttl)

    async def session(self, raw: str) -> IssuedToken | None:
        found = await self.repo.session_by_cookie(digest(raw))
        if found is None:
            return None
        login, user = found
        now = datetime.now(UTC)
        if (
            login.revoked_at is not None
            or login.expires_at <= now
            or login.absolute_expires_at <= now
            or not user.is_active
        ):
            return None
        settings = self.rt.settings
        expires_at = login.expires_at
        stale_before = now - timedelta(seconds=settings.touch_interval_seconds)
        if login.last_seen_at < stale_before:
            # Sliding idle expiry, written at most once per touch interval.
            expires_at = idle_expiry(settings, now, login.absolute_expires_at)
            await self.repo.touch_session(login.id, now, expires_at, stale_before=stale_before)
            await self.db.commit()
        ttl = self._ttl(now, expires_at, login.absolute_expires_at)
        if ttl < 1:
            return None
        return await self.rt.issuer.issue(
            identity_for(user, str(login.id), AuthMethod.SESSION), ttl
        )

    async def revoked_handles(self, cursor: float | None) -> tuple[list[tuple[str, float]], float]:
        """Revoked handles whose tokens may still be unexpired, with until when, and the
        cursor of the next poll. With ``cursor`` (the one a previous poll returned) only
        what was revoked since then, plus a short overlap."""
        now = await self.repo.database_time()
        since = feed_since(cursor, self.rt.settings.revocation_feed_overlap_seconds)
        handles = [
            (handle, expires_at.timestamp())
            for handle, expires_at in await self.repo.revocation_feed(now, since)
        ]
        return handles, now.timestamp()

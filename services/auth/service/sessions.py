"""Logins, sessions (cookies), refresh-token families, logout and revocation.

One login is one row in ``auth.sessions``; its id is the ``sid`` of every access
token it yields, so revoking it (logout, refresh-token reuse, "invalidate other
sessions") stops the cookie, the refresh family and the outstanding tokens at once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from services.auth.errors import (
    InvalidTotp,
    NotLoggedIn,
    RefreshTokenInvalid,
    RefreshTokenReused,
    TotpRequired,
)
from services.auth.models import LoginSession, User
from services.auth.repository import AuthRepository
from services.auth.security.access_tokens import IssuedToken
from services.auth.security.credentials import DEV_KEY_SID, digest, key_usable, new_opaque_token
from services.auth.security.emails import normalized_email
from services.auth.service.accounts import (
    AccountService,
    identity_for,
    parse_uuid,
    require_full_access,
)
from services.auth.service.runtime import AuthRuntime
from services.auth.service.two_factor import spend_totp_code
from services.auth.settings import AuthSettings
from shared.errors import InvalidCredentials, InvalidToken
from shared.identity import AuthMethod, Principal


def idle_expiry(settings: AuthSettings, now: datetime, absolute: datetime) -> datetime:
    """A session used at ``now`` stays valid this long without use (never past ``absolute``)."""
    return min(now + timedelta(seconds=settings.session_idle_ttl_seconds), absolute)


def refresh_expiry(settings: AuthSettings, now: datetime, absolute: datetime) -> datetime:
    return min(now + timedelta(seconds=settings.refresh_token_ttl_seconds), absolute)


@dataclass(frozen=True, slots=True)
class ClientInfo:
    ip: str | None
    user_agent: str | None


@dataclass(frozen=True, slots=True)
class LoginResult:
    user: User
    session_id: uuid.UUID
    cookie: str | None
    refresh_token: str | None
    access: IssuedToken


class SessionService:
    def __init__(self, runtime: AuthRuntime, db: AsyncSession) -> None:
        self.rt = runtime
        self.db = db
        self.repo = AuthRepository(db)
        self.accounts = AccountService(runtime, db)

    async def _authenticate(
        self, identifier: str, password: str, totp_code: str | None, ip: str | None
    ) -> User:
        """The account, or one error for an unknown user and a wrong password alike.

        An unknown user costs one argon2 verification too (against a dummy hash), and
        failures are counted per account and per IP before any password is checked.
        """
        identifier = identifier.strip()
        user = await (
            self.repo.user_by_email(normalized_email(identifier))
            if "@" in identifier
            else self.repo.user_by_username(identifier)
        )
        # An unknown name is throttled like an account, under its comparable form.
        unknown = normalized_email(identifier) if "@" in identifier else identifier.lower()
        account = str(user.id) if user is not None else f"unknown:{unknown}"
        async with self.rt.throttle.attempt(account, ip):
            stored_hash = user.password_hash if user is not None else None
            verified = await self.rt.hasher.verify(stored_hash, password)
            if user is None or not verified or not user.is_active:
                await self.rt.throttle.record_failure(account, ip)
                raise InvalidCredentials()
            if user.totp_enabled:
                if not totp_code:
                    raise TotpRequired()
                if not await spend_totp_code(
                    self.repo, self.rt.box, user, totp_code, now=self.rt.clock()
                ):
                    await self.rt.throttle.record_failure(account, ip)
                    raise InvalidTotp()
        if stored_hash is not None and self.rt.hasher.needs_rehash(stored_hash):
            await self.repo.set_password_hash(user.id, await self.rt.hasher.hash(password))
        return user

    async def login(
        self,
        identifier: str,
        password: str,
        totp_code: str | None,
        client: ClientInfo,
        *,
        cookie: bool,
        refresh: bool,
    ) -> LoginResult:
        """Check the credentials and open a session (with a cookie and/or a refresh token)."""
        user = await self._authenticate(identifier, password, totp_code, client.ip)
        settings = self.rt.settings
        now = datetime.now(UTC)
        absolute = now + timedelta(seconds=settings.session_absolute_ttl_seconds)
        cookie_value = new_opaque_token() if cookie else None
        login = await self.repo.add_session(
            LoginSession(
                id=uuid.uuid4(),
                user_id=user.id,
                cookie_hash=digest(cookie_value) if cookie_value else None,
                auth_method=AuthMethod.PASSWORD.value,
                last_seen_at=now,
                expires_at=idle_expiry(settings, now, absolute),
                absolute_expires_at=absolute,
                ip=client.ip,
                user_agent=(client.user_agent or "")[:400] or None,
            )
        )
        refresh_value = new_opaque_token() if refresh else None
        if refresh_value is not None:
            await self.repo.add_refresh_token(
                login.id, digest(refresh_value), refresh_expiry(settings, now, absolute)
            )
        await self.db.commit()
        access = await self.rt.issuer.issue(
            identity_for(user, str(login.id), AuthMethod.PASSWORD),
            settings.access_token_ttl_seconds,
        )
        return LoginResult(
            user=user,
            session_id=login.id,
            cookie=cookie_value,
            refresh_token=refresh_value,
            access=access,
        )

    async def refresh(self, raw: str) -> tuple[IssuedToken, str]:
        """Exchange a refresh token for a new access token and a new refresh token.

        The presented token is spent. Presenting a spent token again means it was
        copied: the whole family (the session) is revoked, for the thief and the owner.
        """
        found = await self.repo.refresh_token_for_update(digest(raw))
        if found is None:
            raise RefreshTokenInvalid()
        token, login, user = found
        now = datetime.now(UTC)
        if login.revoked_at is not None:
            raise RefreshTokenInvalid()
        if token.spent_at is not None:
            # The family is revoked (committed) and the caller told so: the 401 is the answer.
            await self.repo.revoke_session(login.id, now, "refresh_token_reuse")
            pending = await self.rt.record_revocations(self.repo, [str(login.id)])
            await self.db.commit()
            await self.rt.relay.propagate(pending)
            raise RefreshTokenReused()
        if token.expires_at <= now or login.absolute_expires_at <= now or not user.is_active:
            raise RefreshTokenInvalid()
        settings = self.rt.settings
        await self.repo.spend_refresh_token(token.id, now)
        new_raw = new_opaque_token()
        absolute = login.absolute_expires_at
        await self.repo.add_refresh_token(
            login.id, digest(new_raw), refresh_expiry(settings, now, absolute)
        )
        await self.repo.extend_session(login.id, now, idle_expiry(settings, now, absolute))
        await self.db.commit()
        access = await self.rt.issuer.issue(
            identity_for(user, str(login.id), AuthMethod.REFRESH),
            settings.access_token_ttl_seconds,
        )
        return access, new_raw

    def _session_of(self, principal: Principal) -> uuid.UUID | None:
        """The login behind a principal; ``None`` for API keys and the development key."""
        if principal.auth_method in (AuthMethod.API_KEY, AuthMethod.DEV_KEY):
            return None
        return parse_uuid(principal.session_id)

    async def logout(self, principal: Principal | None) -> None:
        """End the caller's session; :class:`NotLoggedIn` without one (anonymous, API key)."""
        session_id = self._session_of(principal) if principal is not None else None
        if session_id is None:
            raise NotLoggedIn()
        if await self.repo.revoke_session(session_id, datetime.now(UTC), "logout"):
            pending = await self.rt.record_revocations(self.repo, [str(session_id)])
            await self.db.commit()
            await self.rt.relay.propagate(pending)

    async def invalidate_other_sessions(self, principal: Principal) -> int:
        """Revoke every other login of the caller (cookies, refresh families, tokens)."""
        require_full_access(principal)
        user = await self.accounts.current_user(principal)
        revoked = await self.repo.revoke_sessions_of_user(
            user.id, datetime.now(UTC), "invalidated", keep=self._session_of(principal)
        )
        pending = await self.rt.record_revocations(self.repo, [str(s) for s in revoked])
        await self.db.commit()
        await self.rt.relay.propagate(pending)
        return len(revoked)

    async def ensure_live(self, principal: Principal) -> None:
        """Refuse a verified token whose session or key was revoked (checked in the
        database, so auth itself feels a revocation before any pub/sub message lands)."""
        sid = principal.session_id or ""
        now = datetime.now(UTC)
        if sid == DEV_KEY_SID:
            dev = self.rt.dev_identity
            if dev is None or dev.user_id != principal.user_id:
                raise InvalidToken("Token has been revoked")
            return
        if sid.startswith("key:"):
            key_id = parse_uuid(sid[4:])
            key = await self.repo.api_key_by_id(key_id) if key_id else None
            if key is None or not key_usable(key, now) or str(key.user_id) != principal.user_id:
                raise InvalidToken("Token has been revoked")
            return
        session_id = parse_uuid(sid)
        login = await self.repo.session_by_id(session_id) if session_id else None
        if login is None or login.revoked_at is not None or str(login.user_id) != principal.user_id:
            raise InvalidToken("Token has been revoked")

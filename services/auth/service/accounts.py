"""Accounts: registration and who-am-i. The unit of work commits before the route answers.

Sibling modules hold the other flows: sessions.py (login, refresh, logout),
api_keys.py, two_factor.py, introspection.py; bootstrap.py runs at start-up.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.auth.errors import AccountDisabled, AccountExists, RoleNotAllowed
from services.auth.models import ApiKey, User
from services.auth.repository import AuthRepository
from services.auth.security.access_tokens import Identity
from services.auth.security.credentials import new_skype_key_row, preview
from services.auth.security.emails import canonical_email, check_unambiguous, normalized_email
from services.auth.security.passwords import check_password_policy
from services.auth.service.runtime import AuthRuntime
from shared.errors import Forbidden, InvalidToken
from shared.identity import AuthMethod, Principal, Role

FULL_ACCESS = ("*",)


def utcnow() -> datetime:
    return datetime.now(UTC)


def identity_for(
    user: User,
    session_id: str,
    method: AuthMethod,
    scopes: tuple[str, ...] = FULL_ACCESS,
) -> Identity:
    return Identity(
        user_id=str(user.id),
        username=user.username,
        role=Role(user.role),
        client_id=str(user.client_id),
        scopes=scopes,
        session_id=session_id,
        auth_method=method,
    )


def parse_uuid(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def require_full_access(principal: Principal) -> None:
    """Account-level changes (2FA, sessions, the Skype key) need an unrestricted
    credential: a password login, a session or a ``*`` key, not a narrowed key."""
    if not principal.has_scope("*"):
        raise Forbidden()


@dataclass(frozen=True, slots=True)
class Registration:
    user: User
    # The Skype per-user key, in full (shown once, at registration).
    skype_key: str | None = None


class AccountService:
    def __init__(self, runtime: AuthRuntime, db: AsyncSession) -> None:
        self.rt = runtime
        self.db = db
        self.repo = AuthRepository(db)

    async def current_user(self, principal: Principal) -> User:
        """The live account behind a verified principal."""
        user_id = parse_uuid(principal.user_id)
        user = await self.repo.user_by_id(user_id) if user_id else None
        if user is None:
            raise InvalidToken()
        if not user.is_active:
            raise AccountDisabled()
        return user

    async def _is_admin(self, caller: Principal | None) -> bool:
        """Whether the caller is an administrator now (its account, not only its token)."""
        if caller is None or not (caller.has_scope("admin") or caller.has_scope("*")):
            return False
        if caller.role is not Role.ADMIN:
            return False
        try:
            account = await self.current_user(caller)
        except (InvalidToken, AccountDisabled):
            return False
        return Role(account.role) is Role.ADMIN

    async def _check_role(self, role: Role, creator: Principal | None) -> None:
        if role is Role.USER:
            return
        # The token's role is checked against the account now (a demoted admin's
        # unexpired token grants nothing), and a narrowed API key cannot do it either.
        if creator is None or not (creator.has_scope("admin") or creator.has_scope("*")):
            raise RoleNotAllowed()
        admin = await self.current_user(creator)
        if Role(admin.role) is not Role.ADMIN:
            raise RoleNotAllowed()

    async def register(
        self,
        *,
        username: str,
        email: str,
        password: str,
        display_name: str | None = None,
        role: Role = Role.USER,
        creator: Principal | None = None,
        with_skype_key: bool = False,
        client_ip: str | None = None,
    ) -> Registration:
        """Create an account. A ``user`` gets a personal client (tenant); the admin and
        service accounts an administrator creates join the administrator's client.

        Every attempt counts against the client's registration limit (429 past it),
        except an administrator's."""
        if not await self._is_admin(creator):
            await self.rt.registrations.hit(client_ip)
        await self._check_role(role, creator)
        email = canonical_email(email)
        check_unambiguous(email)
        check_password_policy(password, username=username, email=email)
        email_key = normalized_email(email)
        username_taken, email_taken = await self.repo.taken(username, email_key)
        if username_taken or username.lower() == self.rt.settings.dev_username.lower():
            raise AccountExists("Username already exists")
        if email_taken:
            raise AccountExists("Email already registered")
        password_hash = await self.rt.hasher.hash(password)
        try:
            if creator is not None and role is not Role.USER:
                client_id = uuid.UUID(creator.client_id)
            else:
                client_id = (await self.repo.add_client(username, personal=True)).id
            user = await self.repo.add_user(
                User(
                    id=uuid.uuid4(),
                    client_id=client_id,
                    username=username,
                    email=email,
                    email_normalized=email_key,
                    display_name=display_name or username,
                    password_hash=password_hash,
                    role=role.value,
                    is_active=True,
                    totp_enabled=False,
                )
            )
            skype_key = None
            if with_skype_key:
                row, skype_key = new_skype_key_row(user.id)
                await self.repo.add_api_key(row)
            await self.db.commit()
        except IntegrityError as exc:
            # Two registrations raced past the check above: the unique index decides.
            await self.db.rollback()
            raise AccountExists("Username or email already exists") from exc
        return Registration(user=user, skype_key=skype_key)

    async def skype_key_preview(self, user: User) -> str:
        """The masked Skype key (the full key exists only in the answer that created it)."""
        key: ApiKey | None = await self.repo.live_skype_key(user.id)
        return preview(key.kind, key.prefix) if key is not None else ""

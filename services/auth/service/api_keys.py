"""API keys: Profile ``pk_`` keys (named, with permissions and expiry) and the
Skype per-user ``sk_`` key (regenerated in place)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.auth.errors import ApiKeyNotFound, PermissionNotAllowed
from services.auth.models import ApiKey
from services.auth.repository import AuthRepository
from services.auth.security.credentials import key_sid, new_api_key_row, new_skype_key_row, preview
from services.auth.service.accounts import AccountService, parse_uuid, require_full_access
from services.auth.service.runtime import AuthRuntime
from shared.identity import Principal, Role
from shared.permissions import role_allows


class ApiKeyService:
    def __init__(self, runtime: AuthRuntime, db: AsyncSession) -> None:
        self.rt = runtime
        self.db = db
        self.repo = AuthRepository(db)
        self.accounts = AccountService(runtime, db)

    async def generate(
        self,
        principal: Principal,
        *,
        name: str,
        permissions: list[str],
        expires_at: datetime | None,
    ) -> tuple[ApiKey, str]:
        """A new ``pk_`` key for the caller; the full key is returned only here."""
        user = await self.accounts.current_user(principal)
        granted = list(dict.fromkeys(permissions))
        # A key never carries more than its creator holds: what the creating credential
        # may do (a read-only key cannot mint "*") and what the account's role allows
        # now (a user cannot mint "admin"; a demoted admin's old token neither).
        role = Role(user.role)
        if not all(principal.has_scope(p) and role_allows(role, p) for p in granted):
            raise PermissionNotAllowed()
        # A past expiry is accepted (the spec's own example now lies in the past): the
        # key is created already expired, and the route says so in its warning.
        if expires_at is not None and expires_at.tzinfo is None:
            expires_at = expires_at.replace(tzinfo=UTC)
        row, full = new_api_key_row(
            user.id, "pk", name=name, permissions=granted, expires_at=expires_at
        )
        await self.repo.add_api_key(row)
        await self.db.commit()
        return row, full

    async def list(self, principal: Principal) -> list[ApiKey]:
        user = await self.accounts.current_user(principal)
        return list(await self.repo.api_keys_of_user(user.id))

    async def revoke(self, principal: Principal, key_id: str) -> None:
        """Revoke a key of the caller (an administrator may revoke anyone's); effective at once."""
        user = await self.accounts.current_user(principal)
        key_uuid = parse_uuid(key_id)
        key = await self.repo.api_key_by_id(key_uuid) if key_uuid else None
        if key is None or key.revoked_at is not None:
            raise ApiKeyNotFound()
        if key.user_id != user.id and Role(user.role) is not Role.ADMIN:
            raise ApiKeyNotFound()  # another user's key: 404, never 403
        if not await self.repo.revoke_api_key(key.id, datetime.now(UTC)):
            raise ApiKeyNotFound()  # revoked by a concurrent request meanwhile
        pending = await self.rt.record_revocations(self.repo, [key_sid(key.id)])
        # Committed is revoked: auth refuses the key from here on and the feed lists it;
        # Redis hears of it now or, if it is down, from the relay (never a 503 after this).
        await self.db.commit()
        await self.rt.relay.propagate(pending)

    async def regenerate_skype_key(self, principal: Principal) -> str:
        """Replace the caller's Skype key; the old one stops working at once."""
        require_full_access(principal)
        user = await self.accounts.current_user(principal)
        # One regeneration at a time per account: without the lock, concurrent ones each
        # revoke only the keys committed before them and all their new keys stay live.
        await self.repo.lock_user(user.id)
        revoked = await self.repo.revoke_skype_keys(user.id, datetime.now(UTC))
        row, full = new_skype_key_row(user.id)
        await self.repo.add_api_key(row)
        pending = await self.rt.record_revocations(self.repo, [key_sid(k) for k in revoked])
        await self.db.commit()
        # The new key is the caller's from the commit on: it is returned whatever Redis does.
        await self.rt.relay.propagate(pending)
        return full


def key_info(key: ApiKey) -> dict[str, Any]:
    return {
        "id": str(key.id),
        "name": key.name,
        "key_preview": preview(key.kind, key.prefix),
        "permissions": list(key.permissions),
        "created_at": key.created_at,
        "last_used": key.last_used_at,
        "expires_at": key.expires_at,
    }

"""TOTP two-factor authentication: enrolment, confirmation, checking, disabling.

Enrolment stores a pending secret; 2FA is enforced only once a valid code has
confirmed it. Every accepted code spends its time step for the account.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from services.auth.errors import InvalidTotpCode, ReauthenticationFailed, TwoFactorStateError
from services.auth.models import User
from services.auth.repository import AuthRepository
from services.auth.security import totp
from services.auth.security.encryption import SecretBox
from services.auth.service.accounts import AccountService, require_full_access
from services.auth.service.runtime import AuthRuntime
from shared.errors import BadRequest
from shared.identity import Principal


async def spend_totp_code(
    repo: AuthRepository, box: SecretBox, user: User, code: str, *, now: float
) -> bool:
    """Whether ``code`` is valid for the account at ``now`` and not used before (then it
    is spent)."""
    if user.totp_secret is None:
        return False
    step = totp.matching_step(box.open(user.totp_secret).decode(), code, now=now)
    return step is not None and await repo.claim_totp_step(user.id, step)


@dataclass(frozen=True, slots=True)
class Enrolment:
    secret: str
    otpauth_uri: str
    qr_code: str


class TwoFactorService:
    def __init__(self, runtime: AuthRuntime, db: AsyncSession) -> None:
        self.rt = runtime
        self.db = db
        self.repo = AuthRepository(db)
        self.accounts = AccountService(runtime, db)

    async def _user(self, principal: Principal) -> User:
        require_full_access(principal)
        return await self.accounts.current_user(principal)

    async def begin_enrolment(self, principal: Principal) -> Enrolment:
        user = await self._user(principal)
        if user.totp_enabled:
            raise TwoFactorStateError("Two-factor authentication is already enabled")
        secret = totp.new_secret()
        await self.repo.set_pending_totp(user.id, self.rt.box.seal(secret.encode()))
        await self.db.commit()
        uri = totp.provisioning_uri(
            secret, account=user.username, issuer=self.rt.settings.totp_issuer
        )
        return Enrolment(secret=secret, otpauth_uri=uri, qr_code=totp.qr_data_uri(uri))

    async def confirm(self, principal: Principal, code: str, ip: str | None) -> None:
        user = await self._user(principal)
        if user.totp_enabled:
            raise TwoFactorStateError("Two-factor authentication is already enabled")
        if user.totp_pending_secret is None:
            raise TwoFactorStateError("Start enrolment first: POST /auth/enable-2fa without a code")
        account = str(user.id)
        async with self.rt.throttle.attempt(account, ip):
            secret = self.rt.box.open(user.totp_pending_secret).decode()
            step = totp.matching_step(secret, code, now=self.rt.clock())
            if step is None:
                await self.rt.throttle.record_failure(account, ip)
                raise InvalidTotpCode()
        await self.repo.enable_totp(user.id, user.totp_pending_secret, step)
        await self.db.commit()

    async def disable(
        self, principal: Principal, *, code: str | None, password: str | None, ip: str | None
    ) -> None:
        """Turn 2FA off, proven by a current code or the account password."""
        user = await self._user(principal)
        if not user.totp_enabled:
            raise TwoFactorStateError("Two-factor authentication is not enabled")
        if not code and not password:
            raise BadRequest("Provide totp_code (or password) to disable two-factor authentication")
        account = str(user.id)
        async with self.rt.throttle.attempt(account, ip):
            if code:
                if not await spend_totp_code(
                    self.repo, self.rt.box, user, code, now=self.rt.clock()
                ):
                    await self.rt.throttle.record_failure(account, ip)
                    raise InvalidTotpCode()
            elif not await self.rt.hasher.verify(user.password_hash, password or ""):
                await self.rt.throttle.record_failure(account, ip)
                raise ReauthenticationFailed()
        await self.repo.disable_totp(user.id)
        await self.db.commit()

"""What the auth service holds for its whole life: built once in the lifespan."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.auth.repository import AuthRepository
from services.auth.security.access_tokens import AccessTokenIssuer, Identity
from services.auth.security.encryption import SecretBox
from services.auth.security.passwords import PasswordHasher
from services.auth.security.signing_keys import SigningKeyStore
from services.auth.security.throttle import LoginThrottle, RegistrationLimiter
from services.auth.service.revocations import (
    PendingRevocation,
    RevocationRelay,
    record_revocations,
)
from services.auth.settings import AuthSettings
from shared.revocation import RevocationList
from shared.tokens import TokenVerifier

# Verifiers accept a token this long past its exp (shared.tokens' default leeway).
VERIFIER_LEEWAY_SECONDS = 5


@dataclass
class AuthRuntime:
    settings: AuthSettings
    sessions: async_sessionmaker[AsyncSession]
    redis: Redis
    box: SecretBox
    hasher: PasswordHasher
    keys: SigningKeyStore
    issuer: AccessTokenIssuer
    verifier: TokenVerifier
    revocations: RevocationList
    throttle: LoginThrottle
    registrations: RegistrationLimiter
    relay: RevocationRelay
    # The development key's principal; None when no API_KEY is configured.
    dev_identity: Identity | None = None
    # What TOTP checks read the time from (tests move it instead of sleeping).
    clock: Callable[[], float] = field(default=time.time)

    @property
    def dev_key(self) -> str | None:
        key = self.settings.api_key
        return key.get_secret_value() if key is not None else None

    def revocation_horizon(self) -> float:
        """Until when a handle revoked now must stay on the list: its last token's expiry."""
        return time.time() + self.settings.max_access_token_ttl + VERIFIER_LEEWAY_SECONDS

    async def record_revocations(
        self, repo: AuthRepository, handles: Sequence[str]
    ) -> list[PendingRevocation]:
        """Record revoked handles in the caller's transaction; after the commit, hand
        the result to ``relay.propagate`` (which never fails the operation)."""
        until = datetime.fromtimestamp(self.revocation_horizon(), UTC)
        return await record_revocations(repo, handles, until)


def key_retention_seconds(settings: AuthSettings) -> float:
    """How long a retired signing key stays in the JWKS: past its last token's expiry,
    plus the time another replica may keep signing with a cached key set."""
    return (
        settings.max_access_token_ttl
        + VERIFIER_LEEWAY_SECONDS
        + settings.signing_key_cache_seconds
        + 60
    )

"""What the auth service holds for its whole life: built once in the lifespan."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.auth.security.access_tokens import AccessTokenIssuer, Identity
from services.auth.security.encryption import SecretBox
from services.auth.security.passwords import PasswordHasher
from services.auth.security.signing_keys import SigningKeyStore
from services.auth.security.throttle import LoginThrottle
from services.auth.settings import AuthSettings
from shared.errors import ServiceUnavailable
from shared.log import get_logger
from shared.revocation import RevocationList, publish_revocation
from shared.tokens import TokenVerifier

log = get_logger("services.auth.service.runtime")

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
    # The development key's principal; None when no API_KEY is configured.
    dev_identity: Identity | None = None

    @property
    def dev_key(self) -> str | None:
        key = self.settings.api_key
        return key.get_secret_value() if key is not None else None

    def revocation_horizon(self) -> float:
        """Until when a handle revoked now must stay on the list: its last token's expiry."""
        return time.time() + self.settings.max_access_token_ttl + VERIFIER_LEEWAY_SECONDS

    async def publish_revocations(self, handles: Iterable[str]) -> None:
        """Tell every verifier, after the revocation is committed in the database.

        If Redis fails the revocation still holds for introspection and in
        ``/internal/revocations``, but tokens already issued may live on at verifiers
        that have not heard of it: the caller gets a 503 rather than a false success.
        """
        until = self.revocation_horizon()
        try:
            for handle in handles:
                await publish_revocation(self.redis, handle, until)
        except RedisError as exc:
            log.error("revocation_not_published", error=str(exc))
            raise ServiceUnavailable("The revocation could not be propagated; retry") from exc


def key_retention_seconds(settings: AuthSettings) -> float:
    """How long a retired signing key stays in the JWKS: past its last token's expiry,
    plus the time another replica may keep signing with a cached key set."""
    return (
        settings.max_access_token_ttl
        + VERIFIER_LEEWAY_SECONDS
        + settings.signing_key_cache_seconds
        + 60
    )

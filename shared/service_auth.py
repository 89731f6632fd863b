"""A service's verifier of forwarded access tokens: auth's JWKS over HTTP and the
revocation list mirrored from Redis, opened once in the lifespan."""

from __future__ import annotations

from contextlib import AsyncExitStack

import httpx
from redis.asyncio import Redis

from shared.revocation import RevocationList
from shared.settings import CommonSettings
from shared.tokens import TokenVerifier, remote_jwks


async def open_token_verifier(
    stack: AsyncExitStack, settings: CommonSettings, redis: Redis, http: httpx.AsyncClient
) -> TokenVerifier:
    """A :class:`TokenVerifier` for ``Authorization: Bearer`` tokens the gateway forwards."""
    revocations = RevocationList(redis)
    await revocations.start()
    stack.push_async_callback(revocations.stop)
    return TokenVerifier(
        remote_jwks(http, f"{settings.auth_internal_url}/internal/jwks", settings.internal_token),
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        revocations=revocations,
    )

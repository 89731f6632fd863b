"""A service's verifier of forwarded access tokens: auth's JWKS over HTTP and the
revocation list mirrored from Redis (from auth's durable feed while Redis is down),
opened once in the lifespan."""

from __future__ import annotations

from contextlib import AsyncExitStack

import httpx
from redis.asyncio import Redis

from shared.revocation import RevocationList, remote_revocations
from shared.settings import CommonSettings
from shared.tokens import TokenVerifier, remote_jwks


async def open_token_verifier(
    stack: AsyncExitStack, settings: CommonSettings, redis: Redis, http: httpx.AsyncClient
) -> TokenVerifier:
    """A :class:`TokenVerifier` for ``Authorization: Bearer`` tokens the gateway forwards."""
    revocations = RevocationList(
        redis,
        fallback=remote_revocations(
            http, f"{settings.auth_internal_url}/internal/revocations", settings.internal_token
        ),
    )
    await revocations.start()
    stack.push_async_callback(revocations.stop)
    return TokenVerifier(
        remote_jwks(http, f"{settings.auth_internal_url}/internal/jwks", settings.internal_token),
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        revocations=revocations,
    )

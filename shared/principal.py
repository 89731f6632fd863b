"""Reading the caller's identity in a service: the Bearer access token, verified locally."""

from __future__ import annotations

from fastapi import Request

from shared.errors import Unauthorized
from shared.identity import Principal
from shared.tokens import TokenVerifier


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def optional_principal(request: Request, verifier: TokenVerifier) -> Principal | None:
    """The caller, or ``None`` when no token was sent; a bad token is a 401."""
    token = bearer_token(request)
    if token is None:
        return None
    return await verifier.verify(token)


async def require_principal(request: Request, verifier: TokenVerifier) -> Principal:
    principal = await optional_principal(request, verifier)
    if principal is None:
        raise Unauthorized()
    return principal

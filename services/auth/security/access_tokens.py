"""Minting access tokens: the only place a JWT is signed."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import jwt

from services.auth.security.signing_keys import ALGORITHM, SigningKeyStore
from shared.identity import AuthMethod, Principal, Role


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a token is for, before it has a ``jti`` and an expiry."""

    user_id: str
    username: str
    role: Role
    client_id: str
    scopes: tuple[str, ...]
    session_id: str
    auth_method: AuthMethod


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    principal: Principal
    expires_in: int


class AccessTokenIssuer:
    def __init__(self, keys: SigningKeyStore, *, issuer: str, audience: str) -> None:
        self._keys = keys
        self._issuer = issuer
        self._audience = audience

    async def issue(self, identity: Identity, ttl_seconds: int) -> IssuedToken:
        key = await self._keys.signer()
        now = int(time.time())
        principal = Principal(
            user_id=identity.user_id,
            username=identity.username,
            role=identity.role,
            client_id=identity.client_id,
            scopes=identity.scopes,
            session_id=identity.session_id,
            auth_method=identity.auth_method,
            token_id=uuid.uuid4().hex,
            expires_at=now + ttl_seconds,
        )
        claims = {
            **principal.to_claims(),
            "iss": self._issuer,
            "aud": self._audience,
            "iat": now,
            "nbf": now,
            "exp": principal.expires_at,
            "jti": principal.token_id,
            "typ": "access",
        }
        token = jwt.encode(
            claims, key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid, "typ": "JWT"}
        )
        return IssuedToken(token=token, principal=principal, expires_in=ttl_seconds)

"""Ed25519 token-signing keys: created, rotated, published (JWKS) and cached.

Rotation never logs anyone out: a new key is published in the JWKS at once but
signs only after ``activation_delay`` (so every verifier can already know it),
and a retired key stays published until every token it signed has expired.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.auth.models import SigningKey
from services.auth.repository import AuthRepository
from services.auth.security.encryption import SecretBox

ALGORITHM = "EdDSA"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def public_jwk(private_key: Ed25519PrivateKey) -> dict[str, str]:
    raw = private_key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return {"kty": "OKP", "crv": "Ed25519", "x": _b64url(raw)}


def thumbprint(jwk: dict[str, str]) -> str:
    """RFC 7638 JWK thumbprint: a stable ``kid`` derived from the public key."""
    canonical = json.dumps({k: jwk[k] for k in ("crv", "kty", "x")}, separators=(",", ":"))
    return _b64url(hashlib.sha256(canonical.encode()).digest())


@dataclass(frozen=True, slots=True)
class LoadedKey:
    kid: str
    jwk: dict[str, str]
    activates_at: float
    retired_at: float | None
    private_key: Ed25519PrivateKey

    def signs_at(self, now: float) -> bool:
        return self.activates_at <= now and (self.retired_at is None or self.retired_at > now)


class SigningKeyStore:
    """The key set, read from ``auth.signing_keys`` and cached for ``cache_seconds``."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        box: SecretBox,
        *,
        retention_seconds: float,
        cache_seconds: float,
        activation_delay_seconds: float,
    ) -> None:
        self._sessions = sessions
        self._box = box
        self._retention = retention_seconds
        self._cache_seconds = cache_seconds
        self._activation_delay = activation_delay_seconds
        self._keys: list[LoadedKey] = []
        self._loaded_at = float("-inf")
        self._lock = asyncio.Lock()

    def _new_row(self, activates_at: datetime) -> SigningKey:
        private_key = Ed25519PrivateKey.generate()
        jwk = public_jwk(private_key)
        pem = private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return SigningKey(
            kid=thumbprint(jwk),
            algorithm=ALGORITHM,
            public_jwk=jwk,
            private_key_encrypted=self._box.seal(pem),
            activates_at=activates_at,
        )

    async def ensure_key(self) -> None:
        """Create a key that signs from now on when none does (first start-up)."""
        now = datetime.now(UTC)
        async with self._sessions() as session:
            repo = AuthRepository(session)
            await repo.lock("signing-keys")
            rows = await repo.published_signing_keys(retired_after=now)
            if not any(r.activates_at <= now for r in rows):
                await repo.add_signing_key(self._new_row(now))
            await session.commit()
        await self.reload()

    async def rotate(self, *, activation_delay_seconds: float | None = None) -> str:
        """Add a key that takes over signing after the activation delay; its ``kid``."""
        delay = (
            self._activation_delay if activation_delay_seconds is None else activation_delay_seconds
        )
        activates_at = datetime.now(UTC) + timedelta(seconds=delay)
        row = self._new_row(activates_at)
        async with self._sessions() as session:
            repo = AuthRepository(session)
            await repo.lock("signing-keys")
            await repo.retire_signing_keys(activates_at)
            await repo.add_signing_key(row)
            await session.commit()
        await self.reload()
        return row.kid

    async def reload(self) -> None:
        now = datetime.now(UTC)
        async with self._sessions() as session:
            rows = await AuthRepository(session).published_signing_keys(
                retired_after=now - timedelta(seconds=self._retention)
            )
        keys: list[LoadedKey] = []
        for row in rows:
            private_key = serialization.load_pem_private_key(
                self._box.open(row.private_key_encrypted), password=None
            )
            if not isinstance(private_key, Ed25519PrivateKey):
                raise ValueError(f"signing key {row.kid} is not Ed25519")
            keys.append(
                LoadedKey(
                    kid=row.kid,
                    jwk=dict(row.public_jwk),
                    activates_at=row.activates_at.timestamp(),
                    retired_at=row.retired_at.timestamp() if row.retired_at else None,
                    private_key=private_key,
                )
            )
        self._keys = keys
        self._loaded_at = time.monotonic()

    async def _current(self, *, fresh: bool = False) -> list[LoadedKey]:
        if fresh or time.monotonic() - self._loaded_at > self._cache_seconds:
            async with self._lock:
                if fresh or time.monotonic() - self._loaded_at > self._cache_seconds:
                    await self.reload()
        return self._keys

    async def signer(self) -> LoadedKey:
        """The key that signs now: the most recently activated one."""
        now = time.time()
        candidates = [k for k in await self._current() if k.signs_at(now)]
        if not candidates:
            candidates = [k for k in await self._current(fresh=True) if k.signs_at(now)]
        if not candidates:
            raise RuntimeError("no active signing key; run `python -m services.auth rotate-keys`")
        return max(candidates, key=lambda k: k.activates_at)

    async def jwks(self, *, fresh: bool = False) -> dict[str, Any]:
        """The public keys: the signing key, scheduled keys and recently retired ones."""
        keys = await self._current(fresh=fresh)
        return {"keys": [{**k.jwk, "kid": k.kid, "use": "sig", "alg": ALGORITHM} for k in keys]}

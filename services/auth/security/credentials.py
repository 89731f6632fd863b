"""Opaque high-entropy credentials: API keys, session cookies and refresh tokens.

Only SHA-256 digests are stored. A slow hash buys nothing for 256-bit random
secrets; the digest is a lookup key and comparisons are constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
import uuid
from dataclasses import dataclass
from datetime import datetime

from services.auth.models import ApiKey

PREFIX_ALPHABET = string.ascii_lowercase + string.digits
PREFIX_LENGTH = 8
API_KEY_KINDS = ("pk", "sk")  # Profile keys, the Skype per-user key


def digest(value: str) -> bytes:
    return hashlib.sha256(value.encode()).digest()


def same_digest(value: str, stored: bytes) -> bool:
    return hmac.compare_digest(digest(value), stored)


def new_opaque_token() -> str:
    """A session cookie value or refresh token: 256 bits, URL-safe."""
    return secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class ApiKeyParts:
    kind: str
    prefix: str
    secret: str

    @property
    def full(self) -> str:
        return f"{self.kind}_{self.prefix}_{self.secret}"

    @property
    def preview(self) -> str:
        return preview(self.kind, self.prefix)


def new_api_key(kind: str) -> ApiKeyParts:
    """``<kind>_<8-char lookup prefix>_<secret>`` with a 256-bit secret."""
    prefix = "".join(secrets.choice(PREFIX_ALPHABET) for _ in range(PREFIX_LENGTH))
    return ApiKeyParts(kind=kind, prefix=prefix, secret=secrets.token_urlsafe(32))


def parse_api_key(raw: str) -> ApiKeyParts | None:
    """Split a presented key; ``None`` when it is not in Quarry's format."""
    kind, sep, rest = raw.partition("_")
    if not sep or kind not in API_KEY_KINDS:
        return None
    prefix, sep, secret = rest[:PREFIX_LENGTH], rest[PREFIX_LENGTH : PREFIX_LENGTH + 1], rest[9:]
    if sep != "_" or len(secret) < 16 or any(c not in PREFIX_ALPHABET for c in prefix):
        return None
    return ApiKeyParts(kind=kind, prefix=prefix, secret=secret)


def preview(kind: str, prefix: str) -> str:
    """What a stored key can still be shown as: its kind and lookup prefix."""
    return f"{kind}_{prefix}..."


def new_api_key_row(
    user_id: uuid.UUID,
    kind: str,
    *,
    name: str,
    permissions: list[str],
    expires_at: datetime | None = None,
) -> tuple[ApiKey, str]:
    """A fresh key's row (digest only) and the full key, which is shown once."""
    parts = new_api_key(kind)
    row = ApiKey(
        id=uuid.uuid4(),
        user_id=user_id,
        kind=kind,
        name=name,
        prefix=parts.prefix,
        key_hash=digest(parts.full),
        permissions=permissions,
        expires_at=expires_at,
    )
    return row, parts.full


def new_skype_key_row(user_id: uuid.UUID) -> tuple[ApiKey, str]:
    """The Skype per-user key: full access as its owner, like the owner's session."""
    return new_api_key_row(user_id, "sk", name="Skype API key", permissions=["*"])


# The development key's fixed revocation handle (it has no row to point at).
DEV_KEY_SID = "key:dev"


def key_sid(key_id: uuid.UUID) -> str:
    return f"key:{key_id}"


def key_usable(key: ApiKey, now: datetime) -> bool:
    return key.revoked_at is None and (key.expires_at is None or key.expires_at > now)

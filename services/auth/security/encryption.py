"""Encryption at rest for signing keys and TOTP secrets (Fernet: AES-128-CBC + HMAC)."""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


class SecretBox:
    """Seals small secrets with a key derived (HKDF-SHA256) from the configured secret."""

    def __init__(self, secret: str, *, purpose: bytes = b"quarry-auth/at-rest/v1") -> None:
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(
            secret.encode()
        )
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))

    def seal(self, plaintext: bytes) -> bytes:
        return self._fernet.encrypt(plaintext)

    def open(self, sealed: bytes) -> bytes:
        try:
            return self._fernet.decrypt(sealed)
        except InvalidToken as exc:
            raise ValueError(
                "cannot decrypt a stored secret: AUTH_KEY_ENCRYPTION_SECRET differs "
                "from the one it was sealed with"
            ) from exc

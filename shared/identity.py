"""Who is calling: the principal carried by every access token."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Role(StrEnum):
    ADMIN = "admin"
    USER = "user"
    SERVICE = "service"


class AuthMethod(StrEnum):
    PASSWORD = "password"
    SESSION = "session"
    API_KEY = "api_key"
    DEV_KEY = "dev_key"
    REFRESH = "refresh"


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller, as an access token describes it."""

    user_id: str
    username: str
    role: Role
    client_id: str
    scopes: tuple[str, ...]
    session_id: str | None
    auth_method: AuthMethod
    token_id: str
    expires_at: int

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    def has_scope(self, scope: str) -> bool:
        return "*" in self.scopes or scope in self.scopes

    def to_claims(self) -> dict[str, Any]:
        """The identity claims of an access token (registered claims are added by the issuer)."""
        return {
            "sub": self.user_id,
            "name": self.username,
            "role": self.role.value,
            "cid": self.client_id,
            "scp": list(self.scopes),
            "sid": self.session_id,
            "amr": self.auth_method.value,
        }

    @classmethod
    def from_claims(cls, claims: dict[str, Any]) -> Principal:
        return cls(
            user_id=str(claims["sub"]),
            username=str(claims.get("name", "")),
            role=Role(claims.get("role", Role.USER)),
            client_id=str(claims.get("cid", "")),
            scopes=tuple(str(s) for s in claims.get("scp", ())),
            session_id=claims.get("sid"),
            auth_method=AuthMethod(claims.get("amr", AuthMethod.PASSWORD)),
            token_id=str(claims["jti"]),
            expires_at=int(claims["exp"]),
        )

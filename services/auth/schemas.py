"""Request and response bodies, each in the shape its own spec documents."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, EmailStr, Field, WithJsonSchema, model_validator

from shared.identity import Role
from shared.internal import MAX_INTROSPECTED_CREDENTIAL
from shared.permissions import KEY_PERMISSIONS

_USERNAME = re.compile(r"^[A-Za-z0-9_.\-]{3,150}$")


def _username(value: str) -> str:
    # fullmatch: "$" alone would let a trailing newline through.
    if not _USERNAME.fullmatch(value):
        raise ValueError(
            "Username must be 3-150 characters: letters, digits, '.', '_' and '-' only"
        )
    return value


# The rule is also in the schema (pattern), so clients and fuzzers know it; the
# validator keeps the message a person can act on.
Username = Annotated[
    str,
    AfterValidator(_username),
    WithJsonSchema({"type": "string", "pattern": _USERNAME.pattern}),
]


def _storable(value: str) -> str:
    # PostgreSQL text cannot hold NUL: refuse it here rather than fail in the database.
    if "\x00" in value:
        raise ValueError("Must not contain NUL characters")
    return value


def _storable_time(value: datetime | None) -> datetime | None:
    # Far enough from the ends of the calendar that an offset cannot overflow it.
    if value is not None and not 1970 <= value.year <= 9000:
        raise ValueError("Must be a date between the years 1970 and 9000")
    return value


def _known_permission(value: str) -> str:
    if value not in KEY_PERMISSIONS:
        raise ValueError(f"Unknown permission; use one of: {', '.join(sorted(KEY_PERMISSIONS))}")
    return value


# Free text that is stored or looked up in the database.
Text = Annotated[str, AfterValidator(_storable)]
LoginName = Annotated[Text, Field(min_length=1, max_length=320)]
StorableTime = Annotated[datetime | None, AfterValidator(_storable_time)]
# The policy (length, common passwords) is checked by the service with a 400 message;
# here only a sanity bound, so an absurd body fails validation early.
Password = Annotated[str, Field(min_length=1, max_length=1024)]
TotpCode = Annotated[str | None, Field(max_length=16)]
# The vocabulary is shared.permissions; anything else is a validation error.
Permission = Annotated[
    str,
    AfterValidator(_known_permission),
    WithJsonSchema({"type": "string", "enum": sorted(KEY_PERMISSIONS)}),
]


class MessageOut(BaseModel):
    message: str


# Skype (spec/skype-parser-api.md)


class SkypeRegistration(BaseModel):
    username: Username
    password: Password
    email: EmailStr
    display_name: Annotated[Text, Field(min_length=1, max_length=200)]


class SkypeLogin(BaseModel):
    username: LoginName
    password: Password
    totp_code: TotpCode = None


class UserProfile(BaseModel):
    username: str
    email: str
    display_name: str
    api_key: str = Field(
        description=(
            "The full key right after registration or regeneration; afterwards a masked "
            "preview (keys are stored only as hashes)."
        )
    )


class ApiKeyOut(BaseModel):
    api_key: str


# PyAnalypt (spec/pyanalypt-api.md)


class PyRegistration(BaseModel):
    username: Username
    email: EmailStr
    password: Password


class PyRegistered(BaseModel):
    username: str
    email: str


class PyLogin(BaseModel):
    username: LoginName
    password: Password
    totp_code: TotpCode = None


class PyTokens(BaseModel):
    refresh: str
    access: str


class PyRefresh(BaseModel):
    refresh: Annotated[str, Field(min_length=1, max_length=4096)]


class PyRefreshed(BaseModel):
    access: str
    refresh: str


class PyUser(BaseModel):
    id: str
    username: str
    email: str


# Profile (spec/profile-engagement-api.md)


class ProfileRegistration(BaseModel):
    username: Username
    email: EmailStr
    password: Password
    role: Role = Role.USER


class ProfileUser(BaseModel):
    id: str
    username: str
    email: str
    role: str
    created_at: datetime


class ProfileRegistered(BaseModel):
    message: str = "User registered successfully"
    user: ProfileUser


class ProfileLogin(BaseModel):
    username: LoginName
    password: Password
    totp_code: TotpCode = None


class LoginUser(BaseModel):
    id: str
    username: str
    email: str
    role: str


class ProfileToken(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
    user: LoginUser
    refresh_token: str
    # The Files system's login answers {"message": "Login successful"}: one login serves both.
    message: str = "Login successful"


class ApiKeyInfo(BaseModel):
    id: str
    name: str
    key_preview: str
    permissions: list[str]
    created_at: datetime
    last_used: datetime | None
    expires_at: datetime | None


class ApiKeyList(BaseModel):
    api_keys: list[ApiKeyInfo]
    total: int


class ApiKeyRequest(BaseModel):
    name: Annotated[Text, Field(min_length=1, max_length=200)]
    permissions: Annotated[list[Permission], Field(min_length=1, max_length=32)] = [
        "read",
        "write",
    ]
    expires_at: StorableTime = None


class GeneratedKeyInfo(BaseModel):
    id: str
    name: str
    key_preview: str
    permissions: list[str]
    created_at: datetime
    expires_at: datetime | None


class GeneratedKey(BaseModel):
    api_key: str
    key_info: GeneratedKeyInfo
    warning: str = "This is the only time the full API key will be shown. Store it securely."


class RevokedKey(BaseModel):
    message: str = "API key revoked"
    id: str


# Files (spec/file-processing-api.md)


class FilesRegistration(BaseModel):
    username: Username
    email: EmailStr
    password: Password
    # The confirmation: the README's curl sends password1, the system's OpenAPI
    # document names it confirm_password; either is accepted.
    password1: Password | None = None
    confirm_password: Password | None = None

    @model_validator(mode="after")
    def _confirmation_given(self) -> FilesRegistration:
        if self.password1 is None and self.confirm_password is None:
            raise ValueError("password1 (or confirm_password) is required")
        return self

    @property
    def confirmation(self) -> str | None:
        return self.password1 if self.password1 is not None else self.confirm_password


class LoggedOutOthers(BaseModel):
    """The Files OpenAPI's ``/auth/logout-others`` answer (its ``count`` is a string)."""

    message: str
    count: str


class FilesUser(BaseModel):
    id: str
    username: str
    email: str


class FilesRegistered(BaseModel):
    # The Files system's own OpenAPI document answers exactly this message.
    message: str = "Registration successfully completed"
    user: FilesUser


class SessionsInvalidated(BaseModel):
    message: str
    revoked_sessions: int


class EnableTwoFactor(BaseModel):
    totp_code: TotpCode = None


class TwoFactorEnrolment(BaseModel):
    message: str = "Scan the QR code, then confirm with a code from your authenticator app"
    secret: str
    otpauth_uri: str
    qr_code: str


class TwoFactorStatus(BaseModel):
    message: str
    is_2fa_enabled: bool


class DisableTwoFactor(BaseModel):
    totp_code: TotpCode = None
    password: Annotated[str | None, Field(max_length=1024)] = None


# Internal (never routed by the gateway)


class IntrospectionRequest(BaseModel):
    kind: Literal["api_key", "session"]
    credential: Annotated[str, Field(min_length=1, max_length=MAX_INTROSPECTED_CREDENTIAL)]


class IntrospectionResult(BaseModel):
    active: bool
    access_token: str | None = None
    expires_in: int | None = None
    sid: str | None = None
    principal: dict[str, Any] | None = None


class RevokedHandle(BaseModel):
    handle: str
    until: float


class RevokedHandles(BaseModel):
    revoked: list[RevokedHandle]
    # The database's time of this answer; pass it back as ?since= on the next poll.
    as_of: float
    cursor: float

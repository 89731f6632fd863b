"""Profile & Engagement accounts and API keys (spec/profile-engagement-api.md).

``POST /auth/login`` is also the Files login (API.md, "One login, every caller
satisfied"): it answers the Profile token body, adds a ``refresh_token`` and
sets the HttpOnly ``session_id`` cookie, and checks ``totp_code`` when 2FA is on.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request, Response

from services.auth.dependencies import (
    AccountsDep,
    ApiKeysDep,
    ClientDep,
    OptionalPrincipalDep,
    PrincipalDep,
    SessionsDep,
    SettingsDep,
)
from services.auth.errors import duplicates_as_bad_request
from services.auth.routes.cookies import FILES_COOKIE, set_session_cookie
from services.auth.routes.documented import BAD_LOGIN, errors
from services.auth.schemas import (
    ApiKeyInfo,
    ApiKeyList,
    ApiKeyRequest,
    GeneratedKey,
    GeneratedKeyInfo,
    LoginUser,
    ProfileLogin,
    ProfileRegistered,
    ProfileRegistration,
    ProfileToken,
    ProfileUser,
    RevokedKey,
)
from services.auth.service.api_keys import key_info

router = APIRouter(prefix="/auth", tags=["Profile: authentication"])


@router.post(
    "/register",
    status_code=201,
    response_model=ProfileRegistered,
    responses=errors(
        {
            400: "Malformed body, weak password, a look-alike e-mail, or the account exists",
            403: "Only an administrator may register this role",
            429: "Too many registrations from this client",
        }
    ),
)
async def register(
    body: ProfileRegistration,
    accounts: AccountsDep,
    caller: OptionalPrincipalDep,
    client: ClientDep,
) -> ProfileRegistered:
    """Register. ``role`` other than ``user`` needs an administrator's credentials (else 403).
    A duplicate username or email answers 400 ``{"detail": "Username already exists"}``."""
    with duplicates_as_bad_request():
        registration = await accounts.register(
            username=body.username,
            email=str(body.email),
            password=body.password,
            role=body.role,
            creator=caller,
            client_ip=client.ip,
        )
    user = registration.user
    return ProfileRegistered(
        user=ProfileUser(
            id=str(user.id),
            username=user.username,
            email=user.email,
            role=user.role,
            created_at=user.created_at,
        )
    )


@router.post("/login", response_model=ProfileToken, responses=errors(BAD_LOGIN))
async def login(
    body: ProfileLogin,
    request: Request,
    response: Response,
    sessions: SessionsDep,
    client: ClientDep,
    settings: SettingsDep,
) -> ProfileToken:
    result = await sessions.login(
        body.username, body.password, body.totp_code, client, cookie=True, refresh=True
    )
    assert result.cookie is not None
    assert result.refresh_token is not None
    set_session_cookie(response, request, settings, FILES_COOKIE, result.cookie)
    user = result.user
    return ProfileToken(
        access_token=result.access.token,
        expires_in=result.access.expires_in,
        user=LoginUser(id=str(user.id), username=user.username, email=user.email, role=user.role),
        refresh_token=result.refresh_token,
    )


@router.get("/api-keys", response_model=ApiKeyList)
async def list_api_keys(principal: PrincipalDep, api_keys: ApiKeysDep) -> ApiKeyList:
    """The caller's live keys, previews only."""
    keys = [ApiKeyInfo(**key_info(k)) for k in await api_keys.list(principal)]
    return ApiKeyList(api_keys=keys, total=len(keys))


@router.post(
    "/api-keys/generate",
    response_model=GeneratedKey,
    responses=errors({403: "A permission the caller does not hold"}),
)
async def generate_api_key(
    body: ApiKeyRequest, principal: PrincipalDep, api_keys: ApiKeysDep
) -> GeneratedKey:
    """A new ``pk_`` key, shown in full only in this answer. Its permissions cannot
    exceed the caller's own."""
    row, full = await api_keys.generate(
        principal, name=body.name, permissions=body.permissions, expires_at=body.expires_at
    )
    info = key_info(row)
    info.pop("last_used")
    answer = GeneratedKey(api_key=full, key_info=GeneratedKeyInfo(**info))
    if row.expires_at is not None and row.expires_at <= datetime.now(UTC):
        answer.warning += " Note: expires_at is in the past, so this key is already expired."
    return answer


@router.delete(
    "/api-keys/{key_id}",
    response_model=RevokedKey,
    responses=errors({404: "No such API key of the caller's"}),
)
async def revoke_api_key(key_id: str, principal: PrincipalDep, api_keys: ApiKeysDep) -> RevokedKey:
    """Revoke a key at once. Another user's key answers 404."""
    await api_keys.revoke(principal, key_id)
    return RevokedKey(id=key_id)

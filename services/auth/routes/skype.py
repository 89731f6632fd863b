"""Skype Parser accounts (spec/skype-parser-api.md): errors as ``{"error": ...}``."""

from __future__ import annotations

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
from services.auth.routes.cookies import SKYPE_COOKIE, log_out, set_session_cookie
from services.auth.routes.documented import BAD_LOGIN, RESTRICTED_KEY, errors
from services.auth.schemas import ApiKeyOut, MessageOut, SkypeLogin, SkypeRegistration, UserProfile

router = APIRouter(tags=["Skype: authentication"])


@router.post(
    "/api/register",
    response_model=UserProfile,
    responses=errors(
        {
            400: "Malformed body, weak password, a look-alike e-mail, or the account exists",
            429: "Too many registrations from this client",
        }
    ),
)
async def register(
    body: SkypeRegistration, accounts: AccountsDep, client: ClientDep
) -> UserProfile:
    """Register; the answer carries the account's API key in full, the only time it is shown.

    A taken username or email is a 400 ``{"error": ...}``: the spec's only client error here.
    """
    with duplicates_as_bad_request():
        registration = await accounts.register(
            username=body.username,
            email=str(body.email),
            password=body.password,
            display_name=body.display_name,
            with_skype_key=True,
            client_ip=client.ip,
        )
    user = registration.user
    return UserProfile(
        username=user.username,
        email=user.email,
        display_name=user.display_name,
        api_key=registration.skype_key or "",
    )


@router.post("/api/login", response_model=UserProfile, responses=errors(BAD_LOGIN))
async def login(
    body: SkypeLogin,
    request: Request,
    response: Response,
    sessions: SessionsDep,
    accounts: AccountsDep,
    client: ClientDep,
    settings: SettingsDep,
) -> UserProfile:
    """Log in; sets the ``session`` cookie.

    ``api_key`` is a masked preview (``sk_xxxxxxxx...``): keys are stored only as
    hashes, so the full key exists only in the register and regenerate answers.
    """
    result = await sessions.login(
        body.username, body.password, body.totp_code, client, cookie=True, refresh=False
    )
    assert result.cookie is not None
    set_session_cookie(response, request, settings, SKYPE_COOKIE, result.cookie)
    user = result.user
    return UserProfile(
        username=user.username,
        email=user.email,
        display_name=user.display_name,
        api_key=await accounts.skype_key_preview(user),
    )


@router.post("/api/logout", response_model=MessageOut)
async def logout(
    request: Request,
    response: Response,
    principal: OptionalPrincipalDep,
    sessions: SessionsDep,
    settings: SettingsDep,
) -> MessageOut:
    """End the session (its cookie, and every token it issued); 401 when not logged in."""
    return await log_out(principal, sessions, request, response, settings, SKYPE_COOKIE)


@router.get("/api/profile", response_model=UserProfile)
async def profile(principal: PrincipalDep, accounts: AccountsDep) -> UserProfile:
    """The caller's profile; ``api_key`` is a masked preview (stored only as a hash)."""
    user = await accounts.current_user(principal)
    return UserProfile(
        username=user.username,
        email=user.email,
        display_name=user.display_name,
        api_key=await accounts.skype_key_preview(user),
    )


@router.post("/api/regenerate-api-key", response_model=ApiKeyOut, responses=errors(RESTRICTED_KEY))
async def regenerate_api_key(principal: PrincipalDep, api_keys: ApiKeysDep) -> ApiKeyOut:
    """A new API key, shown in full once; the previous key stops working at once."""
    return ApiKeyOut(api_key=await api_keys.regenerate_skype_key(principal))

"""File Processing accounts (spec/file-processing-api.md): session cookie + TOTP 2FA,
errors as ``{"detail": ...}``. Its login is ``POST /auth/login`` (routes/profile.py)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from services.auth.dependencies import (
    AccountsDep,
    ClientDep,
    OptionalPrincipalDep,
    PrincipalDep,
    SessionsDep,
    SettingsDep,
    TwoFactorDep,
)
from services.auth.errors import PasswordMismatch
from services.auth.routes.cookies import FILES_COOKIE, log_out
from services.auth.routes.documented import RESTRICTED_KEY, errors
from services.auth.schemas import (
    DisableTwoFactor,
    EnableTwoFactor,
    FilesRegistered,
    FilesRegistration,
    FilesUser,
    LoggedOutOthers,
    MessageOut,
    SessionsInvalidated,
    TwoFactorEnrolment,
    TwoFactorStatus,
)

router = APIRouter(prefix="/auth", tags=["Files: authentication"])


@router.post(
    "/registration",
    status_code=201,
    response_model=FilesRegistered,
    responses=errors(
        {
            400: "Passwords differ, weak password or a look-alike e-mail address",
            409: "The account exists",
            429: "Too many registrations from this client",
        }
    ),
)
async def registration(
    body: FilesRegistration, accounts: AccountsDep, client: ClientDep
) -> FilesRegistered:
    if body.password != body.confirmation:
        raise PasswordMismatch()
    registration = await accounts.register(
        username=body.username,
        email=str(body.email),
        password=body.password,
        client_ip=client.ip,
    )
    user = registration.user
    return FilesRegistered(
        user=FilesUser(id=str(user.id), username=user.username, email=user.email)
    )


@router.post("/logout", response_model=MessageOut)
async def logout(
    request: Request,
    response: Response,
    principal: OptionalPrincipalDep,
    sessions: SessionsDep,
    settings: SettingsDep,
) -> MessageOut:
    """End this session: the ``session_id`` cookie, its refresh tokens and access tokens."""
    return await log_out(principal, sessions, request, response, settings, FILES_COOKIE)


@router.post(
    "/invalidate-other-sessions",
    response_model=SessionsInvalidated,
    responses=errors(RESTRICTED_KEY),
)
async def invalidate_other_sessions(
    principal: PrincipalDep, sessions: SessionsDep
) -> SessionsInvalidated:
    """Sign out everywhere else: every other session and refresh family of the account."""
    count = await sessions.invalidate_other_sessions(principal)
    return SessionsInvalidated(
        message="Other sessions have been invalidated", revoked_sessions=count
    )


@router.post("/logout-others", response_model=LoggedOutOthers, responses=errors(RESTRICTED_KEY))
async def logout_others(principal: PrincipalDep, sessions: SessionsDep) -> LoggedOutOthers:
    """The Files OpenAPI's name for invalidate-other-sessions: every other session of
    the account ends; ``count`` says how many did."""
    count = await sessions.invalidate_other_sessions(principal)
    if count == 0:
        return LoggedOutOthers(message="No external sessions", count="0")
    return LoggedOutOthers(message="Logout others successfully", count=str(count))


@router.post(
    "/enable-2fa",
    response_model=TwoFactorEnrolment | TwoFactorStatus,
    responses=errors({400: "Already enabled, not started, or a wrong code", **RESTRICTED_KEY}),
)
async def enable_2fa(
    principal: PrincipalDep,
    two_factor: TwoFactorDep,
    client: ClientDep,
    body: EnableTwoFactor | None = None,
) -> TwoFactorEnrolment | TwoFactorStatus:
    """Without a code: start enrolment (secret, otpauth URI, QR PNG); 2FA is not yet
    enforced. With ``{"totp_code"}``: confirm, and from then on logins need a code."""
    if body is None or not body.totp_code:
        enrolment = await two_factor.begin_enrolment(principal)
        return TwoFactorEnrolment(
            secret=enrolment.secret, otpauth_uri=enrolment.otpauth_uri, qr_code=enrolment.qr_code
        )
    await two_factor.confirm(principal, body.totp_code, client.ip)
    return TwoFactorStatus(message="Two-factor authentication enabled", is_2fa_enabled=True)


@router.post(
    "/disable-2fa",
    response_model=TwoFactorStatus,
    responses=errors({400: "Not enabled, or a wrong code or password", **RESTRICTED_KEY}),
)
async def disable_2fa(
    body: DisableTwoFactor, principal: PrincipalDep, two_factor: TwoFactorDep, client: ClientDep
) -> TwoFactorStatus:
    """Turn 2FA off, proven by a current ``totp_code`` (or the account ``password``)."""
    await two_factor.disable(principal, code=body.totp_code, password=body.password, ip=client.ip)
    return TwoFactorStatus(message="Two-factor authentication disabled", is_2fa_enabled=False)

"""PyAnalypt accounts (spec/pyanalypt-api.md): JWT pairs, errors as ``{"detail": ...}``.

Each route also answers without its trailing slash (hidden from the schema): a client
that drops Django's "/" reaches the same route instead of a 404."""

from __future__ import annotations

from fastapi import APIRouter

from services.auth.dependencies import AccountsDep, ClientDep, PrincipalDep, SessionsDep
from services.auth.routes.documented import BAD_LOGIN, errors
from services.auth.schemas import (
    PyLogin,
    PyRefresh,
    PyRefreshed,
    PyRegistered,
    PyRegistration,
    PyTokens,
    PyUser,
)

router = APIRouter(prefix="/api/auth", tags=["PyAnalypt: authentication"])


@router.post("/register", status_code=201, response_model=PyRegistered, include_in_schema=False)
@router.post(
    "/register/",
    status_code=201,
    response_model=PyRegistered,
    responses=errors(
        {
            400: "Malformed body, weak password or a look-alike e-mail address",
            409: "The account exists",
            429: "Too many registrations from this client",
        }
    ),
)
async def register(body: PyRegistration, accounts: AccountsDep, client: ClientDep) -> PyRegistered:
    registration = await accounts.register(
        username=body.username,
        email=str(body.email),
        password=body.password,
        client_ip=client.ip,
    )
    return PyRegistered(username=registration.user.username, email=registration.user.email)


@router.post("/login", response_model=PyTokens, include_in_schema=False)
@router.post("/login/", response_model=PyTokens, responses=errors(BAD_LOGIN))
async def login(body: PyLogin, sessions: SessionsDep, client: ClientDep) -> PyTokens:
    """``{refresh, access}``; send ``totp_code`` too when the account has 2FA on."""
    result = await sessions.login(
        body.username, body.password, body.totp_code, client, cookie=False, refresh=True
    )
    assert result.refresh_token is not None
    return PyTokens(refresh=result.refresh_token, access=result.access.token)


@router.post("/refresh", response_model=PyRefreshed, include_in_schema=False)
@router.post(
    "/refresh/",
    response_model=PyRefreshed,
    responses=errors({401: "Invalid, expired, revoked or reused refresh token"}),
)
async def refresh(body: PyRefresh, sessions: SessionsDep) -> PyRefreshed:
    """A new access token and a new refresh token; the presented one is spent.

    Presenting a spent refresh token again revokes the whole login (401).
    """
    access, new_refresh = await sessions.refresh(body.refresh)
    return PyRefreshed(access=access.token, refresh=new_refresh)


@router.get("/user", response_model=PyUser, include_in_schema=False)
@router.get("/user/", response_model=PyUser)
async def current_user(principal: PrincipalDep, accounts: AccountsDep) -> PyUser:
    user = await accounts.current_user(principal)
    return PyUser(id=str(user.id), username=user.username, email=user.email)

"""The only reader of ``app.state``: Annotated aliases the routes declare."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from services.auth.service.accounts import AccountService
from services.auth.service.api_keys import ApiKeyService
from services.auth.service.introspection import IntrospectionService
from services.auth.service.runtime import AuthRuntime
from services.auth.service.sessions import ClientInfo, SessionService
from services.auth.service.two_factor import TwoFactorService
from services.auth.settings import AuthSettings
from shared.database import session_scope
from shared.errors import Unauthorized
from shared.identity import Principal
from shared.internal import check_internal_token
from shared.net import client_ip
from shared.principal import optional_principal


def get_runtime(request: Request) -> AuthRuntime:
    runtime: AuthRuntime = request.app.state.auth
    return runtime


RuntimeDep = Annotated[AuthRuntime, Depends(get_runtime)]


def get_settings(runtime: RuntimeDep) -> AuthSettings:
    return runtime.settings


SettingsDep = Annotated[AuthSettings, Depends(get_settings)]


async def get_db(request: Request) -> AsyncIterator[AsyncSession]:
    async for session in session_scope(request.app.state.sessions):
        yield session


DbDep = Annotated[AsyncSession, Depends(get_db)]


def get_accounts(runtime: RuntimeDep, db: DbDep) -> AccountService:
    return AccountService(runtime, db)


def get_sessions(runtime: RuntimeDep, db: DbDep) -> SessionService:
    return SessionService(runtime, db)


def get_api_keys(runtime: RuntimeDep, db: DbDep) -> ApiKeyService:
    return ApiKeyService(runtime, db)


def get_two_factor(runtime: RuntimeDep, db: DbDep) -> TwoFactorService:
    return TwoFactorService(runtime, db)


def get_introspection(runtime: RuntimeDep, db: DbDep) -> IntrospectionService:
    return IntrospectionService(runtime, db)


AccountsDep = Annotated[AccountService, Depends(get_accounts)]
SessionsDep = Annotated[SessionService, Depends(get_sessions)]
ApiKeysDep = Annotated[ApiKeyService, Depends(get_api_keys)]
TwoFactorDep = Annotated[TwoFactorService, Depends(get_two_factor)]
IntrospectionDep = Annotated[IntrospectionService, Depends(get_introspection)]


async def get_optional_principal(
    request: Request, runtime: RuntimeDep, sessions: SessionsDep
) -> Principal | None:
    """The caller of the forwarded ``Authorization: Bearer`` token, verified locally
    and checked against the session or key it came from; ``None`` when anonymous."""
    principal = await optional_principal(request, runtime.verifier)
    if principal is not None:
        await sessions.ensure_live(principal)
    return principal


OptionalPrincipalDep = Annotated[Principal | None, Depends(get_optional_principal)]


async def get_principal(principal: OptionalPrincipalDep) -> Principal:
    if principal is None:
        raise Unauthorized()
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def get_client_info(request: Request, settings: SettingsDep) -> ClientInfo:
    peer = request.client.host if request.client else None
    return ClientInfo(
        ip=client_ip(peer, request.headers.get("x-forwarded-for"), settings.trusted_proxies),
        user_agent=request.headers.get("user-agent"),
    )


ClientDep = Annotated[ClientInfo, Depends(get_client_info)]


def require_internal_token(request: Request, settings: SettingsDep) -> None:
    check_internal_token(request, settings.internal_token)

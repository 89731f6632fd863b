"""The only reader of ``app.state``: Annotated aliases the routes declare.

Every dependency is ``async def``: FastAPI runs a plain ``def`` one in a worker thread,
two thread hops per request that were a measurable part of a cached profile read.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, WebSocket

from services.profile.runtime import ProfileRuntime
from services.profile.service.avatars import AvatarService
from services.profile.service.live import LiveService
from shared.errors import Forbidden, Unauthorized
from shared.identity import Principal
from shared.internal import check_internal_token
from shared.principal import require_principal


async def get_runtime(request: Request) -> ProfileRuntime:
    runtime: ProfileRuntime = request.app.state.profile
    return runtime


def websocket_runtime(websocket: WebSocket) -> ProfileRuntime:
    runtime: ProfileRuntime = websocket.app.state.profile
    return runtime


RuntimeDep = Annotated[ProfileRuntime, Depends(get_runtime)]


async def get_avatars(runtime: RuntimeDep) -> AvatarService:
    return runtime.avatars


async def get_live(runtime: RuntimeDep) -> LiveService:
    return runtime.live


AvatarsDep = Annotated[AvatarService, Depends(get_avatars)]
LiveDep = Annotated[LiveService, Depends(get_live)]


async def get_principal(request: Request, runtime: RuntimeDep) -> Principal:
    """The caller of the forwarded ``Authorization: Bearer`` token, verified locally."""
    return await require_principal(request, runtime.verifier)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def needs(permission: str) -> object:
    """A dependency: the caller's credential carries ``permission`` (the Profile spec's
    ``read``, ``write``, ``connect``; ``*`` grants all)."""

    async def check(principal: PrincipalDep) -> Principal:
        if not principal.has_scope(permission):
            raise Forbidden(f"This credential lacks the '{permission}' permission")
        return principal

    return Depends(check)


ReaderDep = Annotated[Principal, needs("read")]


async def avatar_reader(request: Request) -> AvatarService:
    """``AvatarsDep`` + ``ReaderDep`` as one dependency, for the cached profile read: each
    dependency FastAPI resolves costs its own bookkeeping, and those four (runtime,
    principal, permission, avatars) were a fifth of a cached read's CPU."""
    runtime: ProfileRuntime = request.app.state.profile
    principal = await require_principal(request, runtime.verifier)
    if not principal.has_scope("read"):
        raise Forbidden("This credential lacks the 'read' permission")
    return runtime.avatars


AvatarReaderDep = Annotated[AvatarService, Depends(avatar_reader)]
WriterDep = Annotated[Principal, needs("write")]
ConnectorDep = Annotated[Principal, needs("connect")]


async def websocket_principal(websocket: WebSocket, runtime: ProfileRuntime) -> Principal:
    header = websocket.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized()
    principal = await runtime.verifier.verify(token.strip())
    if not principal.has_scope("read"):
        raise Forbidden("This credential lacks the 'read' permission")
    return principal


async def require_internal_token(request: Request, runtime: RuntimeDep) -> None:
    check_internal_token(request, runtime.settings.internal_token)

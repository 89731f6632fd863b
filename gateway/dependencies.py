"""The only reader of ``app.state`` in the gateway's own routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from gateway.runtime import GatewayRuntime
from shared.errors import Unauthorized
from shared.identity import Principal


def get_runtime(request: Request) -> GatewayRuntime:
    runtime: GatewayRuntime = request.app.state.runtime
    return runtime


def get_principal(request: Request) -> Principal:
    """The caller the dispatcher authenticated (required routes only reach here with one)."""
    principal = request.scope.get("state", {}).get("principal")
    if not isinstance(principal, Principal):
        raise Unauthorized()
    return principal


def get_access_token(request: Request) -> str | None:
    token = request.scope.get("state", {}).get("access_token")
    return token if isinstance(token, str) else None


RuntimeDep = Annotated[GatewayRuntime, Depends(get_runtime)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
AccessTokenDep = Annotated[str | None, Depends(get_access_token)]

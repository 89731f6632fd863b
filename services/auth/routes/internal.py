"""Routes for other services only (``X-Internal-Token``; never routed by the gateway,
never in the public OpenAPI). The contract is docs/DESIGN.md, "Identity"."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from services.auth.dependencies import IntrospectionDep, RuntimeDep, require_internal_token
from services.auth.schemas import (
    IntrospectionRequest,
    IntrospectionResult,
    RevokedHandle,
    RevokedHandles,
)

router = APIRouter(
    prefix="/internal",
    include_in_schema=False,
    dependencies=[Depends(require_internal_token)],
)


@router.get("/jwks")
async def jwks(runtime: RuntimeDep) -> dict[str, Any]:
    """Every published public key: the signing key, scheduled and recently retired ones.

    Read fresh from the database, so a key rotated in by another replica or by
    ``rotate-keys`` is published at once (verifiers fetch this rarely).
    """
    return await runtime.keys.jwks(fresh=True)


@router.post("/introspect", response_model=IntrospectionResult, response_model_exclude_none=True)
async def introspect(
    body: IntrospectionRequest, introspection: IntrospectionDep
) -> IntrospectionResult:
    """An API key or session cookie in; a short-lived access token for its principal out."""
    if body.kind == "api_key":
        issued = await introspection.api_key(body.credential)
    else:
        issued = await introspection.session(body.credential)
    if issued is None:
        return IntrospectionResult(active=False)
    principal = issued.principal
    return IntrospectionResult(
        active=True,
        access_token=issued.token,
        expires_in=issued.expires_in,
        sid=principal.session_id,
        principal={**principal.to_claims(), "jti": principal.token_id, "exp": principal.expires_at},
    )


@router.get("/revocations", response_model=RevokedHandles)
async def revocations(
    introspection: IntrospectionDep,
    since: Annotated[float | None, Query(ge=0, description="The cursor of the last poll")] = None,
) -> RevokedHandles:
    """Revoked sessions and keys whose tokens may still be unexpired: the durable record,
    complete whether or not Redis is up (verifiers poll it while Redis is down).

    Without ``since``: every such handle. With ``since=<cursor>`` (the ``cursor`` of the
    previous answer): those revoked since then, plus a short overlap, so a poll never
    misses one; a handle may come twice. ``until`` is when its last token expires.
    """
    handles, cursor = await introspection.revoked_handles(since)
    return RevokedHandles(
        revoked=[RevokedHandle(handle=h, until=u) for h, u in handles],
        as_of=cursor,
        cursor=cursor,
    )

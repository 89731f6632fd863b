"""Profiles and avatars (spec: "Profile Management", "Utility Endpoints")."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from services.profile.dependencies import AvatarReaderDep, AvatarsDep, WriterDep
from services.profile.schemas import (
    ClearedProfiles,
    NotFoundProfile,
    RevalidateRequest,
    RevalidateResult,
    UserProfile,
)

router = APIRouter(tags=["Profile: profiles and avatars"])


@router.get(
    "/profile/{username}",
    response_model=UserProfile,
    responses={
        400: {"description": "Not a valid username"},
        404: {"model": NotFoundProfile, "description": "No such user: an initials avatar"},
    },
)
async def get_profile(username: str, avatars: AvatarReaderDep) -> Response:
    """The avatar from the best tier that answers (live, scraper, generator, initials),
    cached per source TTL; an expired one is served while it is refreshed."""
    answer = await avatars.get(username)
    return Response(answer.body, status_code=answer.status, media_type="application/json")


@router.post("/profiles/revalidate", response_model=RevalidateResult)
async def revalidate(
    body: RevalidateRequest, avatars: AvatarsDep, _: WriterDep
) -> RevalidateResult:
    """Refresh each username now (a few at a time). ``true``: an avatar was fetched from a
    provider; ``false``: invalid name, no such user, or only a local fallback."""
    results = await avatars.revalidate(body.usernames)
    successful = sum(1 for ok in results.values() if ok)
    return RevalidateResult(
        results=results,
        total_requested=len(results),
        successful=successful,
        failed=len(results) - successful,
    )


@router.post("/cache/clear-expired", response_model=ClearedProfiles)
async def clear_expired(avatars: AvatarsDep, _: WriterDep) -> ClearedProfiles:
    cleared = await avatars.clear_expired()
    return ClearedProfiles(cleared_profiles=cleared, message=f"Cleared {cleared} expired profiles")

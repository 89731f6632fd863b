"""TikTok LIVE sessions (spec: "TikTok Live Integration", "/sessions/cleanup")."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from services.profile.dependencies import ConnectorDep, LiveDep, ReaderDep, WriterDep
from services.profile.schemas import (
    CleanedSessions,
    CommentData,
    Connected,
    ConnectFailed,
    ConnectRequest,
    Disconnected,
    DisconnectRequest,
    SessionComments,
    SessionInfo,
    Sessions,
)

router = APIRouter(tags=["Profile: TikTok LIVE"])


@router.post(
    "/connect",
    response_model=Connected,
    responses={
        400: {"description": "Missing or invalid fields"},
        409: {"description": "The session id is connected to another streamer"},
        429: {"description": "A connect to this streamer failed moments ago, or the cap"},
        500: {"model": ConnectFailed, "description": "The streamer is not live"},
    },
)
async def connect(body: ConnectRequest, live: LiveDep, principal: ConnectorDep) -> Connected:
    """Start capturing a streamer's comments. Every session on one streamer shares one
    upstream connection, whichever replica it was asked on."""
    result = await live.connect(principal, body.session_id, body.username)
    return Connected(
        session_id=result.session_id,
        username=result.username,
        message=f"Connected to @{result.username}",
    )


@router.post(
    "/disconnect", response_model=Disconnected, responses={404: {"description": "No such session"}}
)
async def disconnect(
    body: DisconnectRequest, live: LiveDep, principal: ConnectorDep
) -> Disconnected:
    await live.disconnect(principal, body.session_id)
    return Disconnected(session_id=body.session_id)


@router.get("/sessions", response_model=Sessions)
async def sessions(live: LiveDep, principal: ReaderDep) -> Sessions:
    """The caller's sessions (an administrator's: every tenant's) until cleaned up."""
    rows = [SessionInfo(**row) for row in await live.sessions_of(principal)]
    active = sum(1 for row in rows if row.status in ("connecting", "connected", "reconnecting"))
    return Sessions(active_sessions=rows, total_active=active)


@router.post("/sessions/cleanup", response_model=CleanedSessions)
async def cleanup(live: LiveDep, principal: WriterDep) -> CleanedSessions:
    cleaned = await live.cleanup(principal)
    return CleanedSessions(
        cleaned_sessions=cleaned, message=f"Cleaned up {cleaned} disconnected sessions"
    )


@router.get(
    "/sessions/{session_id}/comments",
    response_model=SessionComments,
    responses={404: {"description": "No such session"}},
)
async def session_comments(
    session_id: str,
    live: LiveDep,
    principal: ReaderDep,
    since: Annotated[int | None, Query(ge=0, description="Comments after this seq")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> SessionComments:
    """A session's stored comments, oldest first, ``limit`` at a time."""
    row, comments = await live.comments(principal, session_id, since=since, limit=limit)
    return SessionComments(
        session_id=session_id,
        username=row.streamer,
        status=row.status,
        comment_count=int(row.comment_count),
        comments=[CommentData(**c) for c in comments],
        next_since=comments[-1]["seq"] if comments else since,
    )

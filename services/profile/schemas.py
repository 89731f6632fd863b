"""Request and response models of the Profile & Engagement routes."""

from __future__ import annotations

from pydantic import BaseModel, Field

SESSION_ID = r"^[A-Za-z0-9._:\-]{1,200}$"


class UserProfile(BaseModel):
    """The spec's User Profile Model (``exists`` added: False when there is no such user)."""

    username: str
    nickname: str
    avatar_url: str
    avatar_data_url: str
    source: str = Field(description="live | scraper | generator | initials")
    priority: int = Field(description="1-10, higher = better quality")
    cached_at: str
    expires_at: str
    image_hash: str = Field(description="SHA-256 of the image bytes")
    exists: bool = True


class NotFoundProfile(UserProfile):
    error: str = "PROFILE_NOT_FOUND"
    message: str


class RevalidateRequest(BaseModel):
    usernames: list[str] = Field(min_length=1, max_length=100)


class RevalidateResult(BaseModel):
    results: dict[str, bool]
    total_requested: int
    successful: int
    failed: int


class ClearedProfiles(BaseModel):
    status: str = "success"
    cleared_profiles: int
    message: str


class ConnectRequest(BaseModel):
    session_id: str = Field(pattern=SESSION_ID, description="Your own id for this session")
    username: str = Field(min_length=1, max_length=65, description="The streamer, without @")


class Connected(BaseModel):
    status: str = "success"
    session_id: str
    username: str
    message: str


class ConnectFailed(BaseModel):
    status: str = "error"
    message: str
    session_id: str
    error: str
    detail: str


class DisconnectRequest(BaseModel):
    session_id: str = Field(pattern=SESSION_ID)


class Disconnected(BaseModel):
    status: str = "success"
    session_id: str
    message: str = "Disconnected successfully"


class SessionInfo(BaseModel):
    session_id: str
    username: str
    connected_at: str | None
    status: str = Field(description="connecting | connected | reconnecting | disconnected | ended")
    comment_count: int
    created_at: str | None = None
    ended_at: str | None = None
    end_reason: str | None = None


class Sessions(BaseModel):
    active_sessions: list[SessionInfo]
    total_active: int


class CleanedSessions(BaseModel):
    status: str = "success"
    cleaned_sessions: int
    message: str


class CommentUser(BaseModel):
    username: str
    nickname: str
    userId: str  # noqa: N815 - the spec's name
    avatar_url: str | None = None


class CommentData(BaseModel):
    id: str
    comment: str
    user: CommentUser
    timestamp: str
    session_id: str
    seq: int = Field(description="Position in the session (use as ?since=)")


class SessionComments(BaseModel):
    session_id: str
    username: str
    status: str
    comment_count: int
    comments: list[CommentData]
    next_since: int | None

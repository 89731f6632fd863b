"""Error types of the profile service (rendered in the Profile dialect by the shared
handlers: ``{"error": "<CODE>", "message", "details"}``)."""

from __future__ import annotations

from shared.errors import Conflict, NotFound, QuarryError, RateLimited


class StreamerNotLive(QuarryError):
    """The spec's 500 for a /connect that could not reach a live stream."""

    status_code = 500
    code = "tiktok_connection_error"
    default_message = "Failed to connect. User may not be live."

    def __init__(self, username: str, session_id: str, reason: str) -> None:
        super().__init__(
            f"Failed to connect to @{username}. User may not be live.",
            details=reason,
            extra={"status": "error", "session_id": session_id, "username": username},
        )


class ConnectCoolingDown(RateLimited):
    """A recent connect to this streamer failed: wait before asking again (the spec's
    "429: Rate limit exceeded (recent failed attempts)"; code ``rate_limited``)."""


class ConnectCapReached(RateLimited):
    """The cluster-wide cap on new upstream connections per minute is reached."""


class SessionNotFound(NotFound):
    code = "session_not_found"
    default_message = "No such session"


class SessionBusy(Conflict):
    code = "session_in_use"
    default_message = "This session id is connected to another streamer; disconnect it first"

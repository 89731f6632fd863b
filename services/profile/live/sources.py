"""What a live source is: something that connects to a streamer's LIVE and yields its
comments until the stream ends.

Two implementations: :mod:`services.profile.live.tiktok` (the TikTokLive library) and
:mod:`services.profile.live.replay` (recorded or generated streams). :func:`source_for`
picks one per streamer: the replay prefix (``replay_...``) or ``PROFILE_LIVE_SOURCE``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class Comment:
    comment_id: str
    text: str
    username: str
    nickname: str
    user_id: str
    avatar_url: str | None
    commented_at: datetime


@dataclass(frozen=True)
class Activity:
    """Any sign of life from upstream that is not a comment (keeps the watchdog quiet)."""


LiveEvent = Comment | Activity


class NotLive(Exception):
    """The streamer is not live (offline, unknown, or cannot go live)."""


class RetryLater(Exception):
    """Upstream (the sign server) asked us to wait ``retry_after`` seconds."""

    def __init__(self, retry_after: float, message: str = "retry later") -> None:
        super().__init__(message)
        self.retry_after = retry_after


class UpstreamLost(Exception):
    """The connection failed or dropped without the stream ending."""


class LiveConnection(Protocol):
    def events(self) -> AsyncIterator[LiveEvent]:
        """Events until the stream ends (the iterator finishes); raises
        :class:`UpstreamLost` when the connection drops."""
        ...

    async def is_live(self) -> bool: ...

    async def close(self) -> None: ...


class LiveSource(Protocol):
    name: str

    async def connect(self, streamer: str) -> LiveConnection:
        """Raises :class:`NotLive`, :class:`RetryLater` or :class:`UpstreamLost`."""
        ...


class SourceChooser:
    def __init__(self, default: LiveSource, replay: LiveSource, replay_prefix: str) -> None:
        self.default = default
        self.replay = replay
        self.replay_prefix = replay_prefix

    def source_for(self, streamer: str) -> LiveSource:
        if self.replay_prefix and streamer.startswith(self.replay_prefix):
            return self.replay
        return self.default

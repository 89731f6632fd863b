"""Live comment sessions: the rules of /connect, /disconnect, /sessions, cleanup, a
session's stored comments and what a WebSocket subscriber is sent.

A session belongs to a tenant: ``(client_id, session_id)``, the session id being the
client's own string. Another tenant using the same string has a different session (a
session of another tenant is never seen, so it answers 404 like an unknown one).
Administrators list and clean every tenant's sessions.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.profile.clock import Clock, iso
from services.profile.errors import (
    ConnectCapReached,
    ConnectCoolingDown,
    SessionBusy,
    SessionNotFound,
    StreamerNotLive,
)
from services.profile.live.hub import Subscriber, SubscriberHub
from services.profile.live.messages import (
    comment_message,
    connected_message,
    session_channel,
)
from services.profile.live.sources import NotLive, RetryLater, UpstreamLost
from services.profile.live.upstream import CapReached, UpstreamManager
from services.profile.models import LiveComment, LiveSession
from services.profile.repository import ACTIVE_STATUSES, LiveRepository
from services.profile.settings import ProfileSettings
from services.profile.usernames import canonical_username
from shared.identity import Principal
from shared.log import get_logger

log = get_logger("services.profile.service.live")


@dataclass(frozen=True)
class ConnectResult:
    session_id: str
    username: str


def session_view(row: LiveSession) -> dict[str, Any]:
    return {
        "session_id": row.session_id,
        "username": row.streamer,
        "connected_at": iso(row.connected_at),
        "status": row.status,
        "comment_count": int(row.comment_count),
        "created_at": iso(row.created_at),
        "ended_at": iso(row.ended_at),
        "end_reason": row.end_reason,
    }


def stored_comment(row: LiveComment, session_id: str) -> dict[str, Any]:
    return {
        "id": row.comment_id,
        "comment": row.text,
        "user": {
            "username": row.username,
            "nickname": row.nickname,
            "userId": row.user_id,
            "avatar_url": row.avatar_url,
        },
        "timestamp": iso(row.commented_at),
        "session_id": session_id,
        "seq": row.id,
    }


def _scope(principal: Principal) -> str | None:
    """Whose sessions a caller sees: its tenant's, or every tenant's for an admin."""
    return None if principal.is_admin else principal.client_id


class LiveService:
    def __init__(
        self,
        settings: ProfileSettings,
        sessions: async_sessionmaker[AsyncSession],
        upstream: UpstreamManager,
        hub: SubscriberHub,
        clock: Clock,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.upstream = upstream
        self.hub = hub
        self.clock = clock

    async def connect(self, principal: Principal, session_id: str, username: str) -> ConnectResult:
        streamer = canonical_username(username)
        wait = await self.upstream.cooldown(streamer)
        if wait > 0:
            raise ConnectCoolingDown(
                wait,
                message=(
                    f"A connection to @{streamer} failed moments ago. "
                    f"Try again in {round(wait, 1)} seconds"
                ),
            )
        client_id = principal.client_id
        async with self.sessions() as db:
            repo = LiveRepository(db)
            await repo.lock_session_key(client_id, session_id)
            existing = await repo.session_by_id(client_id, session_id)
            if existing is not None and existing.status in ACTIVE_STATUSES:
                if existing.streamer != streamer:
                    raise SessionBusy(
                        f"Session {session_id} is connected to @{existing.streamer}; "
                        "disconnect it first",
                        details={"session_id": session_id, "username": existing.streamer},
                    )
                if existing.status == "connected":
                    return ConnectResult(session_id, streamer)
                pk = existing.id
            else:
                if existing is not None:  # an ended session id is used again: a new session
                    await repo.delete_session(existing.id)
                row = await repo.add_session(
                    client_id=client_id,
                    session_id=session_id,
                    streamer=streamer,
                    user_id=principal.user_id,
                    status="connecting",
                )
                pk = row.id
            await db.commit()
        try:
            await self.upstream.ensure(streamer)
        except (NotLive, UpstreamLost) as exc:
            await self._forget(pk)
            await self.upstream.record_failure(streamer, str(exc))
            raise StreamerNotLive(streamer, session_id, str(exc)) from exc
        except RetryLater as exc:
            await self._forget(pk)
            raise ConnectCapReached(
                exc.retry_after,
                message=(
                    "TikTok's sign server asks to wait. "
                    f"Try again in {round(exc.retry_after, 1)} seconds"
                ),
            ) from exc
        except CapReached as exc:
            await self._forget(pk)
            raise ConnectCapReached(
                exc.retry_after,
                message=(
                    "Too many new live connections this minute. "
                    f"Try again in {round(exc.retry_after, 1)} seconds"
                ),
            ) from exc
        async with self.sessions() as db:
            current = await db.get(LiveSession, pk)
            if current is not None and current.status in ("connecting", "reconnecting"):
                current.status = "connected"
                current.connected_at = current.connected_at or self.clock.now()
                await db.commit()
        await self.upstream.publish_status(client_id, session_id, "connected")
        return ConnectResult(session_id, streamer)

    async def _forget(self, pk: Any) -> None:
        with contextlib.suppress(Exception):
            async with self.sessions() as db:
                await LiveRepository(db).delete_session(pk)
                await db.commit()

    async def disconnect(self, principal: Principal, session_id: str) -> None:
        async with self.sessions() as db:
            repo = LiveRepository(db)
            row = await repo.session_by_id(principal.client_id, session_id)
            if row is None:
                raise SessionNotFound(
                    f"No session {session_id}", details={"session_id": session_id}
                )
            streamer, was_active = row.streamer, row.status in ACTIVE_STATUSES
            if was_active:
                await repo.end_session(
                    row.id, "disconnected", "disconnected by the client", self.clock.now()
                )
            await db.commit()
        if was_active:
            await self.upstream.publish_status(
                principal.client_id, session_id, "disconnected", "disconnected by the client"
            )
            await self.upstream.release_if_idle(streamer)

    async def sessions_of(self, principal: Principal) -> list[dict[str, Any]]:
        async with self.sessions() as db:
            rows = await LiveRepository(db).sessions_of(_scope(principal))
        return [session_view(row) for row in rows]

    async def cleanup(self, principal: Principal) -> int:
        async with self.sessions() as db:
            count = await LiveRepository(db).delete_inactive(_scope(principal))
            await db.commit()
        return count

    async def comments(
        self, principal: Principal, session_id: str, *, since: int | None, limit: int
    ) -> tuple[LiveSession, list[dict[str, Any]]]:
        async with self.sessions() as db:
            repo = LiveRepository(db)
            row = await repo.session_by_id(principal.client_id, session_id)
            if row is None:
                raise SessionNotFound(
                    f"No session {session_id}", details={"session_id": session_id}
                )
            rows = await repo.comments(row.id, after=since, limit=limit, newest=False)
        return row, [stored_comment(c, session_id) for c in rows]

    async def session_status(self, client_id: str, session_id: str) -> str | None:
        async with self.sessions() as db:
            row = await LiveRepository(db).session_by_id(client_id, session_id)
        return row.status if row is not None else None

    # --- a WebSocket subscriber's life ---

    async def subscribe(
        self,
        subscriber: Subscriber,
        client_id: str,
        session_id: str,
        *,
        since: int | None,
        replay: int,
    ) -> tuple[str, tuple[str, str]]:
        """Attach, send ``connected`` and the replay, then go live. Returns the channel
        and key to detach with."""
        channel = session_channel(self.settings.redis_namespace, client_id, session_id)
        key = (client_id, session_id)
        await self.hub.attach(channel, key, subscriber)  # before the replay is read
        subscriber.send(connected_message(session_id))
        last = 0
        async with self.sessions() as db:
            repo = LiveRepository(db)
            row = await repo.session_by_id(client_id, session_id)
            if row is not None and (since is not None or replay > 0):
                limit = self.settings.ws_replay_max if since is not None else replay
                stored = await repo.comments(row.id, after=since, limit=limit, newest=since is None)
                for comment in stored:
                    subscriber.send(comment_message(stored_comment(comment, session_id)))
                    last = max(last, comment.id)
        subscriber.go_live(last)
        return channel, key

    async def unsubscribe(self, channel: str, key: tuple[str, str], subscriber: Subscriber) -> None:
        await self.hub.detach(channel, key, subscriber)


async def wait_closed(subscriber: Subscriber, receiver: asyncio.Task[Any]) -> None:
    """Until the client goes away or the subscriber is dropped."""
    closed = asyncio.ensure_future(subscriber.closed.wait())
    try:
        await asyncio.wait({closed, receiver}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        closed.cancel()

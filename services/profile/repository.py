"""Every SQL statement of the profile service."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.profile.models import AvatarImage, LiveComment, LiveSession, Profile

ACTIVE_STATUSES = ("connecting", "connected", "reconnecting")


@dataclass(frozen=True)
class StoredProfile:
    profile: Profile
    image: AvatarImage


class ProfileRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, username: str) -> StoredProfile | None:
        row = (
            await self.session.execute(
                select(Profile, AvatarImage)
                .join(AvatarImage, AvatarImage.sha256 == Profile.image_hash)
                .where(Profile.username == username)
            )
        ).first()
        return StoredProfile(row[0], row[1]) if row else None

    async def store_image(
        self, sha256: str, content_type: str, data: bytes, width: int | None, height: int | None
    ) -> None:
        """Stored once per sha256: a second profile with the same picture reuses the row."""
        await self.session.execute(
            insert(AvatarImage)
            .values(
                sha256=sha256,
                content_type=content_type,
                data=data,
                size=len(data),
                width=width,
                height=height,
            )
            .on_conflict_do_nothing(index_elements=["sha256"])
        )

    async def store_profile(self, values: dict[str, Any]) -> None:
        statement = insert(Profile).values(**values)
        changing = {k: statement.excluded[k] for k in values if k != "username"}
        await self.session.execute(
            statement.on_conflict_do_update(index_elements=["username"], set_=changing)
        )

    async def note_live_avatar(self, username: str, url: str, seen_at: datetime) -> None:
        await self.session.execute(
            update(Profile)
            .where(Profile.username == username)
            .values(live_avatar_url=url, live_seen_at=seen_at)
        )

    async def delete_expired(self, now: datetime, keep: Sequence[str] = ()) -> list[str]:
        statement = delete(Profile).where(Profile.expires_at <= now)
        if keep:
            statement = statement.where(Profile.username.not_in(list(keep)))
        gone = (await self.session.execute(statement.returning(Profile.username))).scalars()
        return list(gone)

    async def delete_orphan_images(self) -> int:
        result = await self.session.execute(
            delete(AvatarImage).where(
                ~select(Profile.username).where(Profile.image_hash == AvatarImage.sha256).exists()
            )
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def counts(self, now: datetime) -> dict[str, Any]:
        totals = (
            await self.session.execute(
                select(
                    func.count(),
                    func.count().filter(Profile.expires_at > now),
                    func.count().filter(Profile.exists.is_(False)),
                )
            )
        ).one()
        by_source = dict(
            (
                await self.session.execute(
                    select(Profile.source, func.count()).group_by(Profile.source)
                )
            ).all()
        )
        images = (
            await self.session.execute(
                select(func.count(), func.coalesce(func.sum(AvatarImage.size), 0))
            )
        ).one()
        return {
            "total_profiles": int(totals[0]),
            "valid_profiles": int(totals[1]),
            "expired_profiles": int(totals[0]) - int(totals[1]),
            "nonexistent_users": int(totals[2]),
            "by_source": {str(k): int(v) for k, v in by_source.items()},
            "stored_images": int(images[0]),
            "stored_image_bytes": int(images[1]),
        }


class LiveRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def session_by_id(self, client_id: str, session_id: str) -> LiveSession | None:
        return (
            await self.session.execute(
                select(LiveSession).where(
                    LiveSession.client_id == client_id, LiveSession.session_id == session_id
                )
            )
        ).scalar_one_or_none()

    async def lock_session_key(self, client_id: str, session_id: str) -> None:
        """Serialise two /connect of one session id (any replica) until the commit."""
        await self.session.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:k))"),
            {"k": f"profile-session:{client_id}:{session_id}"},
        )

    async def add_session(self, **values: Any) -> LiveSession:
        row = LiveSession(**values)
        self.session.add(row)
        await self.session.flush()
        return row

    async def delete_session(self, pk: uuid.UUID) -> None:
        await self.session.execute(delete(LiveSession).where(LiveSession.id == pk))

    async def sessions_of(self, client_id: str | None) -> list[LiveSession]:
        statement = select(LiveSession).order_by(LiveSession.created_at)
        if client_id is not None:
            statement = statement.where(LiveSession.client_id == client_id)
        return list((await self.session.execute(statement)).scalars())

    async def set_status(
        self,
        streamer: str,
        status: str,
        *,
        only: Sequence[str] = ACTIVE_STATUSES,
        now: datetime,
        reason: str | None = None,
    ) -> list[LiveSession]:
        values: dict[str, Any] = {"status": status}
        if status == "connected":
            values["connected_at"] = func.coalesce(LiveSession.connected_at, now)
        if status in ("ended", "disconnected"):
            values["ended_at"] = now
            values["end_reason"] = reason
        result = await self.session.execute(
            update(LiveSession)
            .where(LiveSession.streamer == streamer, LiveSession.status.in_(list(only)))
            .values(**values)
            .returning(LiveSession)
        )
        return list(result.scalars())

    async def end_session(self, pk: uuid.UUID, status: str, reason: str, now: datetime) -> None:
        await self.session.execute(
            update(LiveSession)
            .where(LiveSession.id == pk)
            .values(status=status, end_reason=reason, ended_at=now)
        )

    async def active_count(self, streamer: str) -> int:
        return int(
            (
                await self.session.execute(
                    select(func.count()).where(
                        LiveSession.streamer == streamer,
                        LiveSession.status.in_(ACTIVE_STATUSES),
                    )
                )
            ).scalar_one()
        )

    async def active_streamers(self) -> list[str]:
        rows = await self.session.execute(
            select(LiveSession.streamer)
            .where(LiveSession.status.in_(ACTIVE_STATUSES))
            .group_by(LiveSession.streamer)
        )
        return list(rows.scalars())

    async def delete_inactive(self, client_id: str | None) -> int:
        statement = delete(LiveSession).where(LiveSession.status.not_in(ACTIVE_STATUSES))
        if client_id is not None:
            statement = statement.where(LiveSession.client_id == client_id)
        result = await self.session.execute(statement.returning(LiveSession.id))
        return len(list(result.scalars()))

    async def store_comments(
        self, streamer: str, rows: list[dict[str, Any]]
    ) -> list[tuple[uuid.UUID, str, str, list[int]]]:
        """The batch stored once for each active session of ``streamer``.

        Returns, per session: its pk, client id, session id, and the new comment ids
        (in the batch's order).
        """
        sessions = (
            await self.session.execute(
                select(LiveSession.id, LiveSession.client_id, LiveSession.session_id).where(
                    LiveSession.streamer == streamer,
                    LiveSession.status.in_(("connected", "reconnecting")),
                )
            )
        ).all()
        out: list[tuple[uuid.UUID, str, str, list[int]]] = []
        for pk, client_id, session_id in sessions:
            ids = (
                await self.session.execute(
                    insert(LiveComment).returning(LiveComment.id, sort_by_parameter_order=True),
                    [{**row, "session_pk": pk} for row in rows],
                )
            ).scalars()
            out.append((pk, client_id, session_id, list(ids)))
        if sessions:
            await self.session.execute(
                update(LiveSession)
                .where(LiveSession.id.in_([s[0] for s in sessions]))
                .values(comment_count=LiveSession.comment_count + len(rows))
            )
        return out

    async def comments(
        self, session_pk: uuid.UUID, *, after: int | None, limit: int, newest: bool
    ) -> list[LiveComment]:
        statement = select(LiveComment).where(LiveComment.session_pk == session_pk)
        if after is not None:
            statement = statement.where(LiveComment.id > after)
        statement = statement.order_by(LiveComment.id.desc() if newest else LiveComment.id).limit(
            limit
        )
        rows = list((await self.session.execute(statement)).scalars())
        return list(reversed(rows)) if newest else rows

    async def prune_comments(self, before: datetime) -> int:
        result = await self.session.execute(
            delete(LiveComment)
            .where(and_(LiveComment.received_at < before))
            .returning(LiveComment.id)
        )
        return len(list(result.scalars()))

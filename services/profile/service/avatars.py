"""Profiles and avatars: the cache rules.

- A fresh answer comes from memory (this replica) or the database, never from a provider.
- An expired one is served as it is while **one** refresh runs in the background
  (lazy expiry); a username nobody has asked for before is resolved before answering.
- Every resolution of one username is single-flight in this replica: concurrent
  requests, a background refresh and a revalidation share one provider run.
- A refresh that only reaches a lower tier than the stored avatar (the scraper is down
  today) keeps the stored picture and tries again after ``stale_retry_seconds``; a
  page that says the user no longer exists replaces it.
- Writes commit before anyone is answered; other replicas drop their memory copy
  through a Redis invalidation.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.profile.avatars.memory_cache import AnswerCache, CachedAnswer
from services.profile.avatars.providers import PRIORITY, AvatarResolver, AvatarResult
from services.profile.clock import Clock, iso
from services.profile.repository import ProfileRepository, StoredProfile
from services.profile.settings import ProfileSettings
from services.profile.usernames import canonical_username, is_valid_username
from shared.log import get_logger

log = get_logger("services.profile.service")
STALE_RETRY_SECONDS = 3600
Publish = Callable[[str], Awaitable[None]]


@dataclass(frozen=True)
class ProfileAnswer:
    body: bytes
    status: int  # 200, or 404 for a user whose page says they do not exist


def render(stored: StoredProfile) -> ProfileAnswer:
    profile, image = stored.profile, stored.image
    data_url = _data_url(image.content_type, image.data)
    body: dict[str, Any] = {
        "username": profile.username,
        "nickname": profile.nickname,
        "avatar_url": profile.avatar_url or data_url,
        "avatar_data_url": data_url,
        "source": profile.source,
        "priority": profile.priority,
        "cached_at": iso(profile.cached_at),
        "expires_at": iso(profile.expires_at),
        "image_hash": profile.image_hash,
        "exists": profile.exists,
    }
    status = 200
    if not profile.exists:
        status = 404
        body["error"] = "PROFILE_NOT_FOUND"
        body["message"] = f"No account @{profile.username}; a generated avatar is returned"
    return ProfileAnswer(orjson.dumps(body), status)


def _data_url(content_type: str, data: bytes) -> str:
    import base64

    return f"data:{content_type};base64,{base64.b64encode(data).decode('ascii')}"


class AvatarService:
    """One per replica (it holds the single-flight table and the memory cache)."""

    def __init__(
        self,
        settings: ProfileSettings,
        sessions: async_sessionmaker[AsyncSession],
        resolver: AvatarResolver,
        cache: AnswerCache,
        clock: Clock,
        invalidate_elsewhere: Publish | None = None,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.resolver = resolver
        self.cache = cache
        self.clock = clock
        self._invalidate_elsewhere = invalidate_elsewhere
        self._inflight: dict[str, asyncio.Task[StoredProfile]] = {}
        self._background: set[asyncio.Task[Any]] = set()
        self.resolutions = 0  # provider runs (what single-flight saves is visible here)
        self.background_refreshes = 0

    # --- reading ---------------------------------------------------------------------

    async def get(self, raw_username: str) -> ProfileAnswer:
        username = canonical_username(raw_username)
        now = self.clock.now()
        cached = self.cache.get(username, now)
        if cached is not None:
            if cached.expires_at <= now:
                self._refresh_in_background(username)
            return ProfileAnswer(cached.body, cached.status)
        async with self.sessions() as session:
            stored = await ProfileRepository(session).get(username)
        if stored is None:
            stored = await self._resolve_once(username)
        elif stored.profile.expires_at <= now:
            self._refresh_in_background(username)
        return self._remember(stored)

    def _remember(self, stored: StoredProfile) -> ProfileAnswer:
        answer = render(stored)
        self.cache.put(
            stored.profile.username,
            CachedAnswer(
                answer.body, answer.status, stored.profile.expires_at, stored.profile.source
            ),
        )
        return answer

    # --- resolving -------------------------------------------------------------------

    def _resolve_once(
        self, username: str, *, live_avatar_url: str | None = None
    ) -> asyncio.Task[StoredProfile]:
        """The in-flight resolution of ``username``, started if there is none."""
        task = self._inflight.get(username)
        if task is None:
            task = asyncio.create_task(
                self._resolve(username, live_avatar_url), name=f"avatar-{username}"
            )
            self._inflight[username] = task
            task.add_done_callback(lambda _: self._inflight.pop(username, None))
        return task

    def _refresh_in_background(self, username: str) -> None:
        if username in self._inflight:
            return
        self.background_refreshes += 1
        task = self._resolve_once(username)
        self._background.add(task)
        task.add_done_callback(self._background_done)

    def _background_done(self, task: asyncio.Task[Any]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("avatar_refresh_failed", error=str(task.exception()))

    async def _resolve(self, username: str, live_avatar_url: str | None) -> StoredProfile:
        async with self.sessions() as session:
            previous = await ProfileRepository(session).get(username)
        live_url = live_avatar_url or (previous.profile.live_avatar_url if previous else None)
        nickname = (
            previous.profile.nickname
            if previous and previous.profile.nickname != username
            else None
        )
        self.resolutions += 1
        result = await self.resolver.resolve(username, live_avatar_url=live_url, nickname=nickname)
        now = self.clock.now()
        async with self.sessions() as session:
            repo = ProfileRepository(session)
            if previous is not None and self._keep_previous(previous, result):
                values = _values_of(previous)
                values["expires_at"] = now + timedelta(
                    seconds=min(STALE_RETRY_SECONDS, self.settings.ttl_for(previous.profile.source))
                )
                log.info(
                    "avatar_kept_after_lower_tier",
                    username=username,
                    kept=previous.profile.source,
                    got=result.source,
                )
            else:
                image = result.image
                await repo.store_image(
                    image.sha256, image.content_type, image.data, image.width, image.height
                )
                ttl = (
                    self.settings.ttl_for(result.source)
                    if result.exists
                    else self.settings.ttl_nonexistent_seconds
                )
                values = {
                    "username": username,
                    "nickname": result.nickname,
                    "exists": result.exists,
                    "source": result.source,
                    "priority": result.priority,
                    "avatar_url": result.avatar_url,
                    "image_hash": image.sha256,
                    "cached_at": now,
                    "expires_at": now + timedelta(seconds=ttl),
                    "live_avatar_url": live_url,
                    "live_seen_at": previous.profile.live_seen_at if previous else None,
                }
            await repo.store_profile(values)
            await session.commit()
            stored = await repo.get(username)
        assert stored is not None
        self.cache.invalidate(username)
        self._remember(stored)
        await self._tell_others(username)
        return stored

    def _keep_previous(self, previous: StoredProfile, result: AvatarResult) -> bool:
        return (
            result.exists
            and previous.profile.exists
            and result.priority < previous.profile.priority
        )

    async def _tell_others(self, username: str) -> None:
        if self._invalidate_elsewhere is not None:
            try:
                await self._invalidate_elsewhere(username)
            except Exception as exc:  # the others' copies expire anyway
                log.warning("profile_invalidation_not_published", error=str(exc))

    # --- admin operations --------------------------------------------------------------

    async def revalidate(self, usernames: Sequence[str]) -> dict[str, bool]:
        """Fresh resolution of each username, ``concurrency`` at a time.

        ``True``: the profile was refreshed from a provider that fetched an avatar (live,
        scraper or a generator service). ``False``: invalid username, no such user, or
        only a locally made avatar (identicon, initials) could be had.
        """
        semaphore = asyncio.Semaphore(self.settings.revalidate_concurrency)
        results: dict[str, bool] = {}

        async def one(raw: str) -> None:
            if not is_valid_username(raw):
                results[raw] = False
                return
            async with semaphore:
                try:
                    stored = await self._resolve_once(canonical_username(raw))
                except Exception as exc:
                    log.warning("revalidate_failed", username=raw, error=str(exc))
                    results[raw] = False
                    return
            profile = stored.profile
            results[raw] = bool(
                profile.exists and profile.source != "initials" and profile.avatar_url is not None
            )

        await asyncio.gather(*(one(name) for name in dict.fromkeys(usernames)))
        return {name: results[name] for name in dict.fromkeys(usernames)}

    async def clear_expired(self) -> int:
        now = self.clock.now()
        async with self.sessions() as session:
            repo = ProfileRepository(session)
            gone = await repo.delete_expired(now, keep=list(self._inflight))
            await repo.delete_orphan_images()
            await session.commit()
        for username in gone:
            self.cache.invalidate(username)
            await self._tell_others(username)
        return len(gone)

    async def note_live_avatar(self, username: str, url: str, nickname: str) -> None:
        """A commenter's avatar seen in a live stream feeds the live tier."""
        if not is_valid_username(username):
            return
        username = canonical_username(username)
        now = self.clock.now()
        async with self.sessions() as session:
            repo = ProfileRepository(session)
            stored = await repo.get(username)
            if (
                stored is not None
                and stored.profile.live_avatar_url == url
                and stored.profile.source == "live"
            ):
                return
            if stored is not None:
                await repo.note_live_avatar(username, url, now)
                await session.commit()
        if username not in self._inflight:
            self._resolve_once(username, live_avatar_url=url)

    async def figures(self) -> dict[str, Any]:
        now = self.clock.now()
        async with self.sessions() as session:
            counts = await ProfileRepository(session).counts(now)
        return {
            **counts,
            "providers_available": self.resolver.providers_available(),
            "memory": self.cache.snapshot(),
            "provider_runs": self.resolutions,
            "background_refreshes": self.background_refreshes,
            "refreshing_now": len(self._inflight),
        }

    async def stop(self) -> None:
        for task in list(self._inflight.values()):
            task.cancel()
        for task in list(self._inflight.values()):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def _values_of(stored: StoredProfile) -> dict[str, Any]:
    p = stored.profile
    return {
        "username": p.username,
        "nickname": p.nickname,
        "exists": p.exists,
        "source": p.source,
        "priority": PRIORITY.get(p.source, p.priority),
        "avatar_url": p.avatar_url,
        "image_hash": p.image_hash,
        "cached_at": p.cached_at,
        "expires_at": p.expires_at,
        "live_avatar_url": p.live_avatar_url,
        "live_seen_at": p.live_seen_at,
    }

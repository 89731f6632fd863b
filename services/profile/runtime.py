"""What the profile service holds for its whole life, built once in the lifespan, and the
figures it reports (``/internal/figures``, read by the gateway's monitoring routes).

Every replica publishes its own measured figures (WebSocket subscribers per session,
memory-cache counters, provider outcomes) to Redis every ``presence_seconds``; the
figures are those of every replica alive, added up.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.profile.avatars.memory_cache import AnswerCache
from services.profile.avatars.outbound import HostPolicy, SafeFetcher, host_of_template
from services.profile.avatars.providers import AvatarResolver
from services.profile.bus import Bus
from services.profile.clock import Clock, SystemClock, iso
from services.profile.live.hub import SubscriberHub
from services.profile.live.replay import ReplaySource
from services.profile.live.sources import LiveSource, SourceChooser
from services.profile.live.upstream import UpstreamManager
from services.profile.repository import LiveRepository
from services.profile.service.avatars import AvatarService
from services.profile.service.live import LiveService
from services.profile.settings import ProfileSettings
from shared.log import get_logger
from shared.service_auth import open_token_verifier
from shared.tasks import stop_tasks
from shared.tokens import TokenVerifier

log = get_logger("services.profile.runtime")
MB = 1024 * 1024


@dataclass
class ProfileRuntime:
    settings: ProfileSettings
    sessions: async_sessionmaker[AsyncSession]
    redis: Redis
    verifier: TokenVerifier
    bus: Bus
    fetcher: SafeFetcher
    avatars: AvatarService
    live: LiveService
    upstream: UpstreamManager
    hub: SubscriberHub
    clock: Clock
    replica_id: str
    _tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def ns(self) -> str:
        return self.settings.redis_namespace

    def presence_key(self, replica: str) -> str:
        return f"{self.ns}:presence:{replica}"

    def presence(self) -> dict[str, Any]:
        return {
            "replica": self.replica_id,
            "hub": self.hub.presence(),
            "delivered": self.hub.delivered,
            "dropped_subscribers": self.hub.dropped,
            "memory": self.avatars.cache.snapshot(),
            "providers": {n: h.snapshot() for n, h in self.avatars.resolver.health.items()},
            "upstream": self.upstream.figures(),
        }

    async def publish_presence(self) -> None:
        await self.redis.set(
            self.presence_key(self.replica_id),
            orjson.dumps(self.presence()),
            px=int(self.settings.presence_seconds * 3000),
        )

    async def _presence_forever(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(Exception):
                await self.publish_presence()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.settings.presence_seconds)

    async def replicas(self) -> list[dict[str, Any]]:
        """Every live replica's figures (this one's fresh)."""
        records = [self.presence()]
        keys = [k async for k in self.redis.scan_iter(match=self.presence_key("*"), count=100)]
        values = await self.redis.mget(keys) if keys else []
        for value in values:
            if value:
                record = orjson.loads(value)
                if record.get("replica") != self.replica_id:
                    records.append(record)
        return records

    async def figures(self, client_id: str | None) -> dict[str, Any]:
        """The Profile spec's /status, /monitoring/detailed and /monitoring/cache/stats
        pieces; ``client_id`` scopes the session lists (None: every tenant)."""
        replicas = await self.replicas()
        stored = await self.avatars.figures()
        async with self.sessions() as db:
            rows = await LiveRepository(db).sessions_of(client_id)
        connected = [r for r in rows if r.status == "connected"]
        subscribers: dict[str, int] = {}
        for record in replicas:
            for tenant, sessions in record["hub"]["sessions"].items():
                if client_id is None or tenant == client_id:
                    for session_id, count in sessions.items():
                        subscribers[session_id] = subscribers.get(session_id, 0) + int(count)
        memory = _sum_memory([r["memory"] for r in replicas])
        lookups = memory["hits"] + memory["misses"]
        all_connections = sum(int(r["hub"]["active_connections"]) for r in replicas)
        return {
            "connections": {
                "total_sessions": len(rows),
                "connected_sessions": len(connected),
                "disconnected_sessions": len(rows) - len(connected),
                "active_session_ids": [r.session_id for r in connected],
            },
            "cache": {
                "total_profiles": stored["total_profiles"],
                "valid_profiles": stored["valid_profiles"],
                "expired_profiles": stored["expired_profiles"],
                "by_source": stored["by_source"],
                "providers_available": stored["providers_available"],
                "nonexistent_users": stored["nonexistent_users"],
                "stored_images": stored["stored_images"],
                "stored_image_bytes": stored["stored_image_bytes"],
            },
            "cache_stats": {
                "hit_rate": round(memory["hits"] / lookups, 4) if lookups else None,
                "miss_rate": round(memory["misses"] / lookups, 4) if lookups else None,
                "total_entries": stored["total_profiles"],
                "memory_entries": memory["entries"],
                "memory_usage_mb": round(memory["bytes"] / MB, 3),
                "evictions": memory["evictions"],
                "stale_hits": memory["stale_hits"],
                "by_category": {
                    "profiles": stored["total_profiles"],
                    "connections": all_connections,
                    "metadata": stored["stored_images"],
                },
                "replicas": len(replicas),
            },
            "avatar_providers": _sum_providers([r["providers"] for r in replicas]),
            "websockets": {
                "active_connections": sum(subscribers.values()),
                "session_ids": sorted(subscribers),
                "replicas": len(replicas),
            },
            "live": {
                "upstreams": {
                    name: {**figures, "replica": r["replica"]}
                    for r in replicas
                    for name, figures in r["upstream"]["upstreams_here"].items()
                },
                "delivered_messages": sum(int(r.get("delivered", 0)) for r in replicas),
                "dropped_subscribers": sum(int(r.get("dropped_subscribers", 0)) for r in replicas),
            },
        }

    def spawn_background(self) -> None:
        self._tasks.append(asyncio.create_task(self._presence_forever(), name="profile-presence"))

    async def stop(self) -> None:
        self._stopping.set()
        await stop_tasks(self._tasks)
        with contextlib.suppress(Exception):
            await self.redis.delete(self.presence_key(self.replica_id))


def _sum_memory(snapshots: list[dict[str, Any]]) -> dict[str, int]:
    keys = ("hits", "misses", "stale_hits", "entries", "bytes", "evictions")
    return {k: sum(int(s.get(k, 0)) for s in snapshots) for k in keys}


def _sum_providers(snapshots: list[dict[str, dict[str, Any]]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in snapshots[0] if snapshots else {}:
        parts = [s[name] for s in snapshots if name in s]
        attempts = sum(int(p["attempts"]) for p in parts)
        successes = sum(int(p["successes"]) for p in parts)
        rate = successes / attempts if attempts else None
        if not attempts:
            status = "unused"
        elif rate is not None and rate >= 0.8:
            status = "healthy"
        elif rate is not None and rate >= 0.3:
            status = "degraded"
        else:
            status = "unhealthy"
        last_success = max((p["last_success"] for p in parts if p["last_success"]), default=None)
        failures = [p for p in parts if p["last_failure"]]
        last = max(failures, key=lambda p: p["last_failure"], default=None)
        out[name] = {
            "status": status,
            "success_rate": round(rate, 3) if rate is not None else None,
            "attempts": attempts,
            "successes": successes,
            "failures": attempts - successes,
            "last_success": last_success,
            "last_failure": last["last_failure"] if last else None,
            "last_error": last["last_error"] if last else None,
        }
    return out


def allowed_hosts(settings: ProfileSettings) -> list[str]:
    hosts = list(settings.image_hosts)
    for template in [settings.scraper_url_template, *(settings.generator_url_templates or [])]:
        if template:
            hosts.append(host_of_template(template))
    return hosts


def replay_source(settings: ProfileSettings) -> ReplaySource:
    return ReplaySource(
        prefix=settings.live_replay_prefix or "",
        rate=settings.live_replay_rate,
        recordings=Path(settings.live_replay_dir) if settings.live_replay_dir else None,
        comment_bytes=settings.live_replay_comment_bytes,
    )


def live_source(settings: ProfileSettings, replay: ReplaySource) -> LiveSource:
    """The default source: replay, or the TikTokLive adapter (imported only when used)."""
    if settings.live_source == "replay":
        return replay
    from services.profile.live.tiktok import TikTokLiveSource

    return TikTokLiveSource(settings)


async def build_runtime(
    stack: AsyncExitStack,
    app: FastAPI,
    settings: ProfileSettings,
    sessions: async_sessionmaker[AsyncSession],
    redis: Redis,
    http: httpx.AsyncClient,
    clock: Clock | None = None,
) -> ProfileRuntime:
    clock = clock or SystemClock()
    replica_id = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    verifier = await open_token_verifier(stack, settings, redis, http)
    bus = Bus(redis, keepalive_channel=f"{settings.redis_namespace}:keepalive")
    await bus.start()
    stack.push_async_callback(bus.stop)
    fetcher = SafeFetcher(HostPolicy(allowed_hosts(settings)), max_redirects=settings.max_redirects)
    await fetcher.start()
    stack.push_async_callback(fetcher.close)
    cache = AnswerCache(
        max_entries=settings.cache_max_entries, max_bytes=int(settings.cache_max_memory_mb * MB)
    )
    invalidations = f"{settings.redis_namespace}:profiles:invalidate"

    async def invalidate_elsewhere(username: str) -> None:
        await bus.publish(invalidations, orjson.dumps({"u": username, "from": replica_id}))

    avatars = AvatarService(
        settings,
        sessions,
        AvatarResolver(settings, fetcher, clock),
        cache,
        clock,
        invalidate_elsewhere,
    )
    stack.push_async_callback(avatars.stop)

    def on_invalidation(payload: bytes) -> None:
        message = orjson.loads(payload)
        if message.get("from") != replica_id:
            cache.invalidate(str(message.get("u")))

    await bus.subscribe(invalidations, on_invalidation)
    replay = replay_source(settings)
    chooser = SourceChooser(
        live_source(settings, replay), replay, settings.live_replay_prefix or ""
    )
    upstream = UpstreamManager(
        settings,
        sessions,
        redis,
        bus,
        chooser,
        clock,
        replica_id,
        on_avatar=avatars.note_live_avatar,
    )
    await upstream.start()
    stack.push_async_callback(upstream.stop)
    hub = SubscriberHub(bus)
    runtime = ProfileRuntime(
        settings=settings,
        sessions=sessions,
        redis=redis,
        verifier=verifier,
        bus=bus,
        fetcher=fetcher,
        avatars=avatars,
        live=LiveService(settings, sessions, upstream, hub, clock),
        upstream=upstream,
        hub=hub,
        clock=clock,
        replica_id=replica_id,
    )
    runtime.spawn_background()
    stack.push_async_callback(runtime.stop)

    async def check_bus() -> dict[str, Any]:
        if not bus.connected.is_set():
            raise ConnectionError("pub/sub connection down")
        return {"replica": replica_id, "subscribers": hub.active_connections}

    app.state.health_checks["pubsub"] = check_bus
    log.info(
        "profile_runtime_started",
        replica=replica_id,
        live_source=settings.live_source,
        at=iso(clock.now()),
    )
    return runtime

"""One upstream connection per streamer, for the whole cluster.

The replica that holds a streamer's **lease** (a Redis key it renews) runs its
:class:`Supervisor`: it connects, stores and publishes the comments, watches for silence,
reconnects with jittered backoff (never sooner than the sign server's retry-after), and
ends the streamer's sessions when the stream ends. Every other replica only subscribes
to the sessions' channels. A replica that dies loses its lease; the reconciler of another
replica (every ``live_reconcile_seconds``) takes the streamer over.

New upstream connections are capped per minute across the cluster (a moving window in
Redis, the ``limits`` library), because the sign server allows about five a minute per
address; a reconnect waits for the window, a new ``/connect`` is told to retry later.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from limits import RateLimitItemPerMinute
from limits.aio.strategies import MovingWindowRateLimiter
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.profile.bus import Bus
from services.profile.clock import Clock
from services.profile.live.messages import (
    comment_data,
    comment_message,
    items_payload,
    session_channel,
    status_payload,
)
from services.profile.live.sources import (
    Comment,
    LiveConnection,
    NotLive,
    RetryLater,
    SourceChooser,
    UpstreamLost,
)
from services.profile.repository import LiveRepository
from services.profile.settings import ProfileSettings
from shared.limits_storage import redis_storage
from shared.log import get_logger

log = get_logger("services.profile.live.upstream")
AvatarSeen = Callable[[str, str, str], Awaitable[None]]

_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""


class CapReached(Exception):
    def __init__(self, retry_after: float) -> None:
        super().__init__(f"new upstream connections are capped; retry in {retry_after:.1f}s")
        self.retry_after = retry_after


def backoff_delay(attempt: int, base: float, cap: float, retry_after: float = 0.0) -> float:
    """Exponential backoff with jitter ("equal jitter"), never below ``retry_after``."""
    ceiling = min(cap, base * 2 ** max(0, attempt))
    return max(retry_after, random.uniform(ceiling / 2, ceiling))


class UpstreamManager:
    def __init__(
        self,
        settings: ProfileSettings,
        sessions: async_sessionmaker[AsyncSession],
        redis: Redis,
        bus: Bus,
        chooser: SourceChooser,
        clock: Clock,
        replica_id: str,
        on_avatar: AvatarSeen | None = None,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.redis = redis
        self.bus = bus
        self.chooser = chooser
        self.clock = clock
        self.replica_id = replica_id
        self.on_avatar = on_avatar
        self.ns = settings.redis_namespace
        self.supervisors: dict[str, Supervisor] = {}
        self._reconciler: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)
        storage = redis_storage(settings.redis_url, redis, f"{self.ns}:cap")
        self._limiter = MovingWindowRateLimiter(storage)
        self._cap = RateLimitItemPerMinute(settings.live_connects_per_minute)
        self.counters = {
            "connect_attempts": 0,
            "connects": 0,
            "reconnects": 0,
            "failed_connects": 0,
            "streams_ended": 0,
            "silent_streams": 0,
            "comments_stored": 0,
            "cap_waits": 0,
        }

    # --- keys ---

    def lease_key(self, streamer: str) -> str:
        return f"{self.ns}:lease:{streamer}"

    def state_key(self, streamer: str) -> str:
        return f"{self.ns}:upstream:{streamer}"

    def failed_key(self, streamer: str) -> str:
        return f"{self.ns}:failed:{streamer}"

    @property
    def control_channel(self) -> str:
        return f"{self.ns}:live:control"

    # --- life ---

    async def start(self) -> None:
        await self.bus.subscribe(self.control_channel, self._on_control)
        self._reconciler = asyncio.create_task(self._reconcile_forever(), name="live-reconciler")

    async def stop(self) -> None:
        """Leave the streamers to the other replicas: sessions stay active."""
        self._stopping.set()
        if self._reconciler is not None:
            self._reconciler.cancel()
            await asyncio.wait({self._reconciler}, timeout=5.0)
        await asyncio.gather(
            *(s.stop(handover=True) for s in list(self.supervisors.values())),
            return_exceptions=True,
        )

    # --- what /connect and /disconnect use ---

    async def cooldown(self, streamer: str) -> float:
        """Seconds until a failed streamer may be tried again (0: now)."""
        ttl = await self.redis.pttl(self.failed_key(streamer))
        return max(0.0, ttl / 1000) if ttl and ttl > 0 else 0.0

    async def record_failure(self, streamer: str, reason: str) -> None:
        seconds = self.settings.live_failure_cooldown_seconds
        if seconds > 0:
            await self.redis.set(self.failed_key(streamer), reason[:200], px=int(seconds * 1000))

    async def upstream_state(self, streamer: str) -> str | None:
        value = await self.redis.hget(self.state_key(streamer), "state")
        return value.decode() if isinstance(value, bytes) else value

    async def ensure(self, streamer: str) -> None:
        """Return once ``streamer`` has a connected upstream somewhere in the cluster.

        Raises :class:`NotLive`, :class:`RetryLater`, :class:`CapReached` or
        :class:`UpstreamLost` when the first connection fails.
        """
        deadline = time.monotonic() + self.settings.live_connect_timeout + 5
        while True:
            local = self.supervisors.get(streamer)
            if local is not None and not local.done:
                await local.wait_connected()
                return
            state = await self.upstream_state(streamer)
            owner = await self.redis.get(self.lease_key(streamer))
            if owner is not None and state in ("connected", "reconnecting"):
                return
            if owner is None and await self._acquire(streamer):
                self._start_supervisor(streamer, resume=False)
                continue
            failed = await self.redis.get(self.failed_key(streamer))
            if owner is None and failed is not None:
                raise NotLive(failed.decode() if isinstance(failed, bytes) else str(failed))
            if time.monotonic() > deadline:
                raise UpstreamLost("timed out waiting for the replica connecting this streamer")
            await asyncio.sleep(0.1)

    async def release_if_idle(self, streamer: str) -> None:
        """Ask the owner (whichever replica) to drop the upstream if nobody needs it."""
        await self.bus.publish(self.control_channel, orjson.dumps({"release": streamer}))

    def _on_control(self, payload: bytes) -> None:
        message = orjson.loads(payload)
        streamer = message.get("release")
        supervisor = self.supervisors.get(streamer) if streamer else None
        if supervisor is not None:
            supervisor.spawn(supervisor.stop_if_idle())

    # --- leases ---

    async def _acquire(self, streamer: str) -> bool:
        ok = await self.redis.set(
            self.lease_key(streamer),
            self.replica_id,
            nx=True,
            px=int(self.settings.live_lease_seconds * 1000),
        )
        return bool(ok)

    async def renew(self, streamer: str) -> bool:
        return bool(
            await self._renew(
                keys=[self.lease_key(streamer)],
                args=[self.replica_id, int(self.settings.live_lease_seconds * 1000)],
            )
        )

    async def release(self, streamer: str) -> None:
        await self._release(keys=[self.lease_key(streamer)], args=[self.replica_id])

    async def set_state(self, streamer: str, state: str, error: str | None = None) -> None:
        key = self.state_key(streamer)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(
                key,
                mapping={
                    "state": state,
                    "owner": self.replica_id,
                    "error": error or "",
                    "at": time.time(),
                },
            )
            pipe.pexpire(key, int(self.settings.live_lease_seconds * 3000))
            await pipe.execute()

    async def clear_state(self, streamer: str) -> None:
        await self.redis.delete(self.state_key(streamer))

    async def take_connect_slot(self, *, wait: bool) -> None:
        """One of the cluster's new connections this minute; waits for one, or raises
        :class:`CapReached` when ``wait`` is False."""
        while True:
            if await self._limiter.hit(self._cap, "upstream-connects"):
                return
            stats = await self._limiter.get_window_stats(self._cap, "upstream-connects")
            retry_after = max(0.1, stats.reset_time - time.time())
            if not wait:
                raise CapReached(retry_after)
            self.counters["cap_waits"] += 1
            await asyncio.sleep(min(retry_after, 5.0))

    # --- sessions ---

    async def set_sessions(
        self, streamer: str, status: str, *, only: tuple[str, ...], reason: str | None = None
    ) -> None:
        async with self.sessions() as session:
            rows = await LiveRepository(session).set_status(
                streamer, status, only=only, now=self.clock.now(), reason=reason
            )
            await session.commit()
        for row in rows:
            await self.publish_status(row.client_id, row.session_id, status, reason)

    async def publish_status(
        self, client_id: str, session_id: str, status: str, reason: str | None = None
    ) -> None:
        with contextlib.suppress(Exception):
            await self.bus.publish(
                session_channel(self.ns, client_id, session_id),
                status_payload(session_id, status, reason),
            )

    async def store_and_publish(self, streamer: str, comments: list[Comment]) -> None:
        rows = [
            {
                "comment_id": c.comment_id[:64],
                "text": c.text,
                "username": c.username[:64],
                "nickname": c.nickname[:200],
                "user_id": c.user_id[:64],
                "avatar_url": c.avatar_url,
                "commented_at": c.commented_at,
            }
            for c in comments
        ]
        async with self.sessions() as session:
            stored = await LiveRepository(session).store_comments(streamer, rows)
            await session.commit()
        self.counters["comments_stored"] += len(comments)
        async with self.redis.pipeline(transaction=False) as pipe:
            for _pk, client_id, session_id, ids in stored:
                items = [
                    (seq, comment_message(comment_data(c, session_id, seq)))
                    for c, seq in zip(comments, ids, strict=True)
                ]
                pipe.publish(session_channel(self.ns, client_id, session_id), items_payload(items))
            await pipe.execute()

    # --- reconciling ---

    def _start_supervisor(self, streamer: str, *, resume: bool) -> Supervisor:
        supervisor = Supervisor(self, streamer, resume=resume)
        self.supervisors[streamer] = supervisor
        supervisor.start()
        return supervisor

    async def reconcile(self) -> None:
        async with self.sessions() as session:
            wanted = set(await LiveRepository(session).active_streamers())
        for streamer in wanted:
            if streamer in self.supervisors:
                continue
            if await self._acquire(streamer):
                log.info("live_streamer_taken_over", streamer=streamer, replica=self.replica_id)
                self._start_supervisor(streamer, resume=True)
        for streamer, supervisor in list(self.supervisors.items()):
            if streamer not in wanted and not supervisor.connecting_first:
                await supervisor.stop()

    async def _reconcile_forever(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._stopping.wait(),
                    self.settings.live_reconcile_seconds * random.uniform(0.8, 1.2),
                )
                return
            try:
                await self.reconcile()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("live_reconcile_failed", error=str(exc))

    def figures(self) -> dict[str, Any]:
        return {
            "replica": self.replica_id,
            "upstreams_here": {name: s.figures() for name, s in self.supervisors.items()},
            "counters": dict(self.counters),
            "connects_per_minute_cap": self.settings.live_connects_per_minute,
        }


class Supervisor:
    """The upstream connection of one streamer, on the replica holding its lease."""

    def __init__(self, manager: UpstreamManager, streamer: str, *, resume: bool) -> None:
        self.manager = manager
        self.settings = manager.settings
        self.streamer = streamer
        self.source = manager.chooser.source_for(streamer)
        self.resume = resume
        self.state = "connecting"
        self.connecting_first = not resume
        self._connected: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._stop = asyncio.Event()
        self._handover = False
        self._task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._queue: asyncio.Queue[Comment] = asyncio.Queue(maxsize=100_000)
        self._seen_avatars: OrderedDict[str, str] = OrderedDict()
        self.connections = 0
        self.comments = 0
        self.last_event: float | None = None
        self.done = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"live-{self.streamer}")

    def spawn(self, work: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def wait_connected(self) -> None:
        await asyncio.shield(self._connected)

    async def stop(self, *, handover: bool = False) -> None:
        self._handover = handover
        self._stop.set()
        if self._task is not None:
            await asyncio.wait({self._task}, timeout=self.settings.live_connect_timeout + 10)

    async def stop_if_idle(self) -> None:
        async with self.manager.sessions() as session:
            active = await LiveRepository(session).active_count(self.streamer)
        if active == 0:
            log.info("live_upstream_released", streamer=self.streamer, reason="no session left")
            await self.stop()

    def figures(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "source": self.source.name,
            "connections": self.connections,
            "comments": self.comments,
            "silent_for_seconds": round(time.monotonic() - self.last_event, 1)
            if self.last_event
            else None,
        }

    def _fail_first(self, exc: BaseException) -> None:
        if not self._connected.done():
            self._connected.set_exception(exc)
            self._connected.exception()  # retrieved: no "never retrieved" warning

    async def _pause(self, seconds: float) -> bool:
        """Sleep unless stopped; False when stopped."""
        try:
            await asyncio.wait_for(self._stop.wait(), seconds)
        except TimeoutError:
            return True
        return False

    async def _run(self) -> None:
        manager = self.manager
        renewer = asyncio.create_task(self._keep_lease(), name=f"lease-{self.streamer}")
        writer = asyncio.create_task(self._write(), name=f"writer-{self.streamer}")
        attempt = 0
        retry_after = 0.0
        first = not self.resume
        ended = False
        try:
            while not self._stop.is_set():
                if not first or attempt:
                    delay = backoff_delay(
                        attempt,
                        self.settings.live_reconnect_base_seconds,
                        self.settings.live_reconnect_max_seconds,
                        retry_after,
                    )
                    if not await self._pause(delay):
                        break
                await manager.set_state(self.streamer, self.state)
                try:
                    await manager.take_connect_slot(wait=not first)
                    manager.counters["connect_attempts"] += 1
                    connection = await self.source.connect(self.streamer)
                except NotLive as exc:
                    if first:
                        manager.counters["failed_connects"] += 1
                        self._fail_first(exc)
                        return
                    ended = True
                    await self._end("ended", "stream ended (the streamer is offline)")
                    return
                except (RetryLater, CapReached) as exc:
                    if first:
                        manager.counters["failed_connects"] += 1
                        self._fail_first(exc)
                        return
                    retry_after = float(getattr(exc, "retry_after", 0.0))
                    attempt += 1
                    continue
                except UpstreamLost as exc:
                    if first:
                        manager.counters["failed_connects"] += 1
                        self._fail_first(exc)
                        return
                    attempt += 1
                    if attempt > self.settings.live_reconnect_attempts:
                        ended = True
                        await self._end("disconnected", f"upstream unreachable: {exc}")
                        return
                    continue
                # Connected.
                self.connections += 1
                manager.counters[
                    "connects" if first and self.connections == 1 else "reconnects"
                ] += 1
                self.state = "connected"
                self.connecting_first = False
                attempt, retry_after = 0, 0.0
                await manager.set_state(self.streamer, "connected")
                await manager.set_sessions(
                    self.streamer, "connected", only=("connecting", "reconnecting")
                )
                if not self._connected.done():
                    self._connected.set_result(None)
                first = False
                outcome = await self._consume(connection)
                # Asked before closing: the check uses the connection's own HTTP client.
                still_live = outcome != "silent" or await connection.is_live()
                with contextlib.suppress(Exception):
                    await connection.close()
                if outcome == "stopped":
                    break
                if outcome == "ended":
                    ended = True
                    manager.counters["streams_ended"] += 1
                    await self._end("ended", "stream ended")
                    return
                if outcome == "silent":
                    manager.counters["silent_streams"] += 1
                    if not still_live:
                        ended = True
                        manager.counters["streams_ended"] += 1
                        await self._end("ended", "stream ended (silent, no longer live)")
                        return
                    log.info("live_stream_silent_reconnecting", streamer=self.streamer)
                self.state = "reconnecting"
                await manager.set_state(self.streamer, "reconnecting")
                await manager.set_sessions(self.streamer, "reconnecting", only=("connected",))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.error("live_supervisor_failed", streamer=self.streamer, exc_info=exc)
            self._fail_first(UpstreamLost(f"{type(exc).__name__}: {exc}"))
        finally:
            self.done = True
            self._fail_first(UpstreamLost("the upstream was stopped"))
            await self._drain(writer)
            renewer.cancel()
            await asyncio.wait({renewer}, timeout=2.0)
            if manager.supervisors.get(self.streamer) is self:
                del manager.supervisors[self.streamer]
            with contextlib.suppress(Exception):
                if not self._handover or ended:
                    await manager.clear_state(self.streamer)
                await manager.release(self.streamer)

    async def _end(self, status: str, reason: str) -> None:
        self.state = status
        await self.manager.set_sessions(
            self.streamer, status, only=("connecting", "connected", "reconnecting"), reason=reason
        )

    async def _consume(self, connection: LiveConnection) -> str:
        """Read events until the stream ends ("ended"), drops ("lost"), goes silent
        ("silent") or we are told to stop ("stopped")."""
        events = connection.events().__aiter__()
        stop = asyncio.ensure_future(self._stop.wait())
        try:
            while True:
                following = asyncio.ensure_future(events.__anext__())
                done, _ = await asyncio.wait(
                    {following, stop},
                    timeout=self.settings.live_silence_seconds,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if following not in done:
                    following.cancel()
                    with contextlib.suppress(BaseException):
                        await following
                    return "stopped" if stop in done else "silent"
                try:
                    event = following.result()
                except StopAsyncIteration:
                    return "ended"
                except UpstreamLost as exc:
                    log.info("live_upstream_lost", streamer=self.streamer, error=str(exc))
                    return "lost"
                self.last_event = time.monotonic()
                if isinstance(event, Comment):
                    self.comments += 1
                    with contextlib.suppress(asyncio.QueueFull):
                        self._queue.put_nowait(event)
        finally:
            stop.cancel()

    async def _keep_lease(self) -> None:
        interval = self.settings.live_lease_seconds / 3
        while True:
            await asyncio.sleep(interval)
            try:
                if not await self.manager.renew(self.streamer):
                    log.warning("live_lease_lost", streamer=self.streamer)
                    self._handover = True
                    self._stop.set()
                    return
                await self.manager.redis.pexpire(
                    self.manager.state_key(self.streamer),
                    int(self.settings.live_lease_seconds * 3000),
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("live_lease_renewal_failed", streamer=self.streamer, error=str(exc))

    async def _write(self) -> None:
        """Batches of comments: stored once per session, then published."""
        loop = asyncio.get_running_loop()
        size, window = self.settings.live_batch_size, self.settings.live_batch_seconds
        while True:
            batch = [await self._queue.get()]
            deadline = loop.time() + window
            while len(batch) < size:
                if not self._queue.empty():
                    batch.append(self._queue.get_nowait())
                    continue
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(self._queue.get(), remaining))
                except TimeoutError:
                    break
            await self._flush(batch)

    async def _flush(self, batch: list[Comment]) -> None:
        for attempt in range(3):
            try:
                await self.manager.store_and_publish(self.streamer, batch)
                break
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("live_comments_not_stored", streamer=self.streamer, error=str(exc))
                await asyncio.sleep(0.2 * (attempt + 1))
        self._feed_avatars(batch)

    def _feed_avatars(self, batch: list[Comment]) -> None:
        on_avatar = self.manager.on_avatar
        if on_avatar is None:
            return
        for comment in batch:
            if not comment.avatar_url or not comment.username:
                continue
            if self._seen_avatars.get(comment.username) == comment.avatar_url:
                continue
            self._seen_avatars[comment.username] = comment.avatar_url
            if len(self._seen_avatars) > 5000:
                self._seen_avatars.popitem(last=False)
            self.spawn(_quietly(on_avatar(comment.username, comment.avatar_url, comment.nickname)))

    async def _drain(self, writer: asyncio.Task[None]) -> None:
        """Store what is still queued, then stop the writer."""
        pending: list[Comment] = []
        while not self._queue.empty():
            pending.append(self._queue.get_nowait())
        writer.cancel()
        await asyncio.wait({writer}, timeout=2.0)
        if pending:
            with contextlib.suppress(Exception):
                await self._flush(pending)


async def _quietly(work: Awaitable[Any]) -> None:
    try:
        await work
    except Exception as exc:
        log.info("live_avatar_not_recorded", error=str(exc))


__all__ = ["CapReached", "Supervisor", "UpstreamManager", "backoff_delay"]

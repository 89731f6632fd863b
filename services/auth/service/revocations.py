"""Revocations: recorded with the change that causes them, then told to every verifier.

A flow that revokes a session or a key calls :func:`record_revocations` inside its
transaction, commits, then :meth:`RevocationRelay.propagate`. The commit is the
revocation: from then on auth refuses the handle (introspection and ``ensure_live``
read the database), ``/internal/revocations`` lists it, and the operation answers
success. Publishing to Redis (the sorted set + pub/sub of ``shared.revocation``, which
makes verifiers feel it within milliseconds) is tried at once, with a short bound; if
Redis is down the row stays unpublished and the relay publishes it when Redis is back
(rows are the outbox, so a restart loses nothing). While Redis is down the gateway
polls ``/internal/revocations?since=...`` instead.

So no revoking call answers an error after its change was committed, and a regenerated
key always reaches its caller.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.auth.repository import AuthRepository
from shared.backoff import Backoff
from shared.log import get_logger
from shared.revocation import publish_revocation

log = get_logger("services.auth.revocations")

# A publication that takes longer than this is left to the relay.
PUBLISH_TIMEOUT_SECONDS = 1.0
RELAY_BATCH = 500
# The relay's retry delays while Redis is down: exponential, jittered, capped low
# so that Redis learns the backlog within seconds of coming back.
RETRY_BASE_SECONDS = 0.2
RETRY_CAP_SECONDS = 5.0
# With nothing pending the relay still looks every so often: a replica that died
# between its commit and its publication left rows that only another relay can send.
IDLE_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class PendingRevocation:
    id: int
    handle: str
    expires_at: datetime


async def record_revocations(
    repo: AuthRepository, handles: Sequence[str], expires_at: datetime
) -> list[PendingRevocation]:
    """Write the revocation records in the caller's transaction (commit them with it)."""
    rows = await repo.add_revocations(list(dict.fromkeys(handles)), expires_at)
    return [PendingRevocation(id=i, handle=h, expires_at=expires_at) for i, h in rows]


class RevocationRelay:
    """Publishes committed revocations to Redis: at once when it can, later when not."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], redis: Redis) -> None:
        self._sessions = sessions
        self._redis = redis
        self._wake = asyncio.Event()
        self.published = 0
        self.deferred = 0

    async def _publish(self, items: Sequence[PendingRevocation]) -> None:
        for item in items:
            await publish_revocation(self._redis, item.handle, item.expires_at.timestamp())

    async def propagate(self, items: Sequence[PendingRevocation]) -> bool:
        """Publish revocations the caller has committed. Never raises: whatever fails
        here is the relay's to finish. ``True`` when Redis has them all now."""
        if not items:
            return True
        try:
            async with asyncio.timeout(PUBLISH_TIMEOUT_SECONDS):
                await self._publish(items)
        except (RedisError, OSError, TimeoutError) as exc:
            self.deferred += len(items)
            log.warning("revocation_publish_deferred", count=len(items), error=repr(exc))
            self._wake.set()
            return False
        self.published += len(items)
        try:
            async with self._sessions() as db:
                await AuthRepository(db).mark_revocations_published(
                    [item.id for item in items], datetime.now(UTC)
                )
                await db.commit()
        except SQLAlchemyError as exc:
            # Published but not marked: the relay publishes it again (harmless).
            log.warning("revocation_mark_failed", error=repr(exc))
        return True

    async def publish_pending(self) -> int:
        """One batch of the backlog; the number published (raises when Redis fails)."""
        async with self._sessions() as db:
            repo = AuthRepository(db)
            now = datetime.now(UTC)
            rows = await repo.unpublished_revocations(now, RELAY_BATCH)
            items = [PendingRevocation(id=i, handle=h, expires_at=e) for i, h, e in rows]
            if not items:
                return 0
            await self._publish(items)
            await repo.mark_revocations_published([item.id for item in items], now)
            await db.commit()
        self.published += len(items)
        log.info("revocations_relayed", count=len(items))
        return len(items)

    async def run(self) -> None:
        """The lifespan's background task: drain the backlog, retry while Redis is down."""
        delays = Backoff(base=RETRY_BASE_SECONDS, cap=RETRY_CAP_SECONDS)
        while True:
            self._wake.clear()
            try:
                relayed = await self.publish_pending()
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError, TimeoutError, SQLAlchemyError) as exc:
                if delays.attempts == 0:
                    log.warning("revocation_relay_waiting", error=repr(exc))
                # Backing off: a burst of deferred revocations must not hammer Redis.
                await asyncio.sleep(delays.next())
                continue
            if delays.attempts:
                log.info("revocation_relay_resumed", after_attempts=delays.attempts)
            delays.reset()
            if relayed == RELAY_BATCH:
                continue
            try:
                async with asyncio.timeout(IDLE_SECONDS):
                    await self._wake.wait()
            except TimeoutError:
                pass

    async def backlog(self) -> int:
        """Revocations committed but not yet in Redis (the health check reports it)."""
        async with self._sessions() as db:
            return await AuthRepository(db).count_unpublished_revocations(datetime.now(UTC))


def feed_since(cursor: float | None, overlap_seconds: float) -> datetime | None:
    """Where a poll with ``cursor`` resumes: a little before it, so a revocation whose
    transaction committed after a poll that its own timestamp predates is not missed
    (the poller sees some entries twice, which is harmless)."""
    if cursor is None:
        return None
    return datetime.fromtimestamp(cursor, UTC) - timedelta(seconds=overlap_seconds)

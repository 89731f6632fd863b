"""Housekeeping: delete what can never be used again, so the auth tables stop growing.

- sessions revoked, or past their absolute expiry, longer than the retention ago
  (with their refresh tokens);
- refresh tokens that expired longer than the retention ago (spent or not: a spent
  token is kept while it could still be replayed, so the replay is detected);
- API keys revoked or expired longer than the retention ago (never a live key);
- revocation records whose handle's last token has expired (the feed no longer lists them);
- signing keys retired long enough ago that no token they signed can still be valid
  (the key set drops them from the JWKS at that point already).

The retention never falls below what the revocation feed and the JWKS still need
(:func:`services.auth.runtime.key_retention_seconds`). Deletes run in batches of
``prune_batch_size`` rows, each batch its own short transaction, so a large
backlog never holds long locks. :func:`run_periodically` runs in the app's lifespan:
every replica tries, one prunes at a time (a PostgreSQL advisory lock).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from services.auth.repository import AuthRepository
from services.auth.service.runtime import key_retention_seconds
from services.auth.settings import AuthSettings
from shared.log import get_logger

log = get_logger("services.auth.service.housekeeping")

LOCK_NAME = "housekeeping"


@dataclass(slots=True)
class PruneCounts:
    sessions: int = 0
    refresh_tokens: int = 0
    api_keys: int = 0
    signing_keys: int = 0
    revocations: int = 0

    @property
    def total(self) -> int:
        return (
            self.sessions
            + self.refresh_tokens
            + self.api_keys
            + self.signing_keys
            + self.revocations
        )

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def retention_cutoff(settings: AuthSettings, now: datetime) -> datetime:
    """Ended rows older than this go. Never less than a retired key's publication
    window, which also covers the revocation feed's window (the longest token life)."""
    keep = max(float(settings.prune_retention_seconds), key_retention_seconds(settings))
    return now - timedelta(seconds=keep)


def signing_key_cutoff(settings: AuthSettings, now: datetime) -> datetime:
    """Keys retired before this signed nothing that a verifier still accepts."""
    return now - timedelta(seconds=key_retention_seconds(settings))


async def _drain(
    db: AsyncSession, delete_batch: Callable[[int], Awaitable[int]], batch_size: int
) -> int:
    """Run one bounded delete until a batch comes back short; commit after each."""
    total = 0
    while True:
        deleted = await delete_batch(batch_size)
        await db.commit()
        total += deleted
        if deleted < batch_size:
            return total


async def prune(
    db: AsyncSession,
    settings: AuthSettings,
    *,
    now: datetime | None = None,
    batch_size: int | None = None,
) -> PruneCounts:
    """Delete every prunable row, in batches; the counts per table."""
    now = now or datetime.now(UTC)
    size = batch_size or settings.prune_batch_size
    cutoff = retention_cutoff(settings, now)
    repo = AuthRepository(db)
    counts = PruneCounts()
    # Tokens first, in batches: a long-lived family can hold thousands of them,
    # which a cascading session delete would remove in one unbounded statement.
    counts.refresh_tokens += await _drain(
        db, lambda n: repo.delete_refresh_tokens_of_ended_sessions(cutoff, n), size
    )
    counts.refresh_tokens += await _drain(
        db, lambda n: repo.delete_refresh_tokens_expired_before(cutoff, n), size
    )
    counts.sessions = await _drain(db, lambda n: repo.delete_sessions_ended_before(cutoff, n), size)
    counts.api_keys = await _drain(db, lambda n: repo.delete_api_keys_ended_before(cutoff, n), size)
    # A revocation record is needed until its handle's last token expires.
    counts.revocations = await _drain(
        db, lambda n: repo.delete_revocations_expired_before(now, n), size
    )
    key_cutoff = signing_key_cutoff(settings, now)
    counts.signing_keys = await _drain(
        db, lambda n: repo.delete_signing_keys_retired_before(key_cutoff, n), size
    )
    return counts


async def prune_exclusively(engine: AsyncEngine, settings: AuthSettings) -> PruneCounts | None:
    """:func:`prune`, unless another replica is pruning right now (then ``None``).

    The advisory lock belongs to one connection, so the batches run on that very
    connection (a session bound to it keeps it across commits).
    """
    async with (
        engine.connect() as conn,
        AsyncSession(bind=conn, expire_on_commit=False, autoflush=False) as db,
    ):
        repo = AuthRepository(db)
        acquired = await repo.try_lock_for_connection(LOCK_NAME)
        await db.commit()
        if not acquired:
            return None
        try:
            return await prune(db, settings)
        finally:
            try:
                await db.rollback()  # a batch that failed midway leaves it open
                await repo.unlock_for_connection(LOCK_NAME)
                await db.commit()
            except Exception as exc:
                # Never hand a connection still holding the lock back to the
                # pool: closing it releases the lock.
                log.warning("prune_unlock_failed", error=repr(exc))
                await conn.invalidate()


async def run_periodically(engine: AsyncEngine, settings: AuthSettings) -> None:
    """The lifespan's background task: prune after the initial delay, then every
    interval. A failure is logged and retried at the next interval; only
    cancellation (shutdown) ends the loop."""
    await asyncio.sleep(settings.prune_initial_delay_seconds)
    while True:
        started = time.monotonic()
        try:
            counts = await prune_exclusively(engine, settings)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # never let housekeeping take the service down
            log.error("prune_failed", error=repr(exc))
        else:
            if counts is None:
                log.info("prune_skipped", reason="another replica is pruning")
            else:
                log.info(
                    "pruned",
                    seconds=round(time.monotonic() - started, 3),
                    **counts.as_dict(),
                )
        await asyncio.sleep(settings.prune_interval_seconds)

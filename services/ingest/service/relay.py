"""The outbox relay: what makes a committed job impossible to lose.

Every ingest process runs one (rows are claimed with ``FOR UPDATE SKIP LOCKED``, so
replicas share the work). Each round it

1. sends the outbox messages not sent yet (woken at once by a commit in this
   process, otherwise every ``relay_interval_seconds``); a failed send is retried
   after ``relay_retry_seconds``, and a queue that vanished (the SQS server
   restarted) is declared again;
2. re-sends the message of every unfinished job that went silent: still pending
   ``pending_resend_seconds`` after its send (the queue lost it; the wait doubles with
   every send, so a backlog costs few duplicates, which workers drop), or running with
   no sign of life from its worker for ``stale_running_seconds``; a job that
   ``max_dispatches`` workers started without finishing, or that stayed pending for
   ``max_pending_seconds``, fails with a reason instead;
3. marks failed, with a reason, the jobs whose message landed in the dead-letter
   queue without the worker saying so (a worker killed on the last attempt).

So no job stays ``pending`` or ``running`` forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from datetime import timedelta
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.ingest.models import Job, OutboxMessage
from services.ingest.repository import UNFINISHED, IngestRepository
from services.ingest.service.job_updates import fail
from services.ingest.service.jobs import job_message, now
from services.ingest.service.waiting import JobEvents
from services.ingest.settings import IngestSettings
from services.ingest.worker.queues import JobQueues, declare_queues
from shared.log import get_logger

log = get_logger("services.ingest.service.relay")

HOUSEKEEPING_SECONDS = 3600.0
SENT_OUTBOX_RETENTION = timedelta(days=7)


class OutboxRelay:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        sqs: Any,
        settings: IngestSettings,
        events: JobEvents,
    ) -> None:
        self._sessions = sessions
        self._sqs = sqs
        self._settings = settings
        self._events = events
        self._wakeup = asyncio.Event()
        self._queues: JobQueues | None = None
        self._last_sweep = 0.0
        self._last_dead_letter_check = 0.0
        self._last_housekeeping = 0.0
        self.rounds = 0

    def wake(self) -> None:
        """Send what was just committed without waiting for the next round."""
        self._wakeup.set()

    async def queues(self) -> JobQueues:
        if self._queues is None:
            self._queues = await declare_queues(self._sqs, self._settings)
        return self._queues

    async def run(self) -> None:
        """Relay until cancelled; a failing round is logged and the next one tries again."""
        while True:
            try:
                await self.round()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("relay_round_failed", error=f"{type(exc).__name__}: {exc}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), self._settings.relay_interval_seconds)
            self._wakeup.clear()

    async def round(self) -> None:
        await self.send_due()
        clock = time.monotonic()
        if clock - self._last_sweep >= self._settings.relay_interval_seconds:
            self._last_sweep = clock
            await self.resend_silent()
        if clock - self._last_dead_letter_check >= self._settings.dead_letter_poll_seconds:
            self._last_dead_letter_check = clock
            await self.fail_dead_letters()
        if clock - self._last_housekeeping >= HOUSEKEEPING_SECONDS:
            self._last_housekeeping = clock
            await self.housekeeping()
        self.rounds += 1

    async def send_due(self) -> int:
        """Send every due outbox message; returns how many were sent."""
        sent = 0
        while True:
            async with self._sessions() as session:
                repo = IngestRepository(session)
                due = await repo.due_outbox(now(), self._settings.relay_batch_size)
                if not due:
                    return sent
                failed = False
                for message in due:
                    if await self._send(repo, message):
                        sent += 1
                    else:
                        failed = True
                await session.commit()
            if failed or len(due) < self._settings.relay_batch_size:
                return sent

    async def _send(self, repo: IngestRepository, message: OutboxMessage) -> bool:
        body = orjson.dumps(message.body).decode()
        try:
            queues = await self.queues()
            try:
                await self._sqs.send_message(QueueUrl=queues.jobs_url, MessageBody=body)
            except self._sqs.exceptions.QueueDoesNotExist:
                # The queue server lost its queues (a restarted moto): declare them again.
                self._queues = None
                queues = await self.queues()
                await self._sqs.send_message(QueueUrl=queues.jobs_url, MessageBody=body)
        except Exception as exc:
            self._queues = None
            message.send_attempts += 1
            message.last_error = f"{type(exc).__name__}: {exc}"[:1000]
            message.available_at = now() + timedelta(seconds=self._settings.relay_retry_seconds)
            log.warning("outbox_send_failed", job_id=str(message.job_id), error=message.last_error)
            return False
        stamp = now()
        message.sent_at = stamp
        message.send_attempts += 1
        job = await repo.get_job(message.job_id)
        if job is not None:
            job.dispatches += 1
            if job.status == "pending":
                job.heartbeat_at = stamp
        log.info("job_message_sent", job_id=str(message.job_id), type=message.body.get("type"))
        return True

    async def resend_silent(self) -> int:
        """Re-send (or, past ``max_dispatches``, fail) the unfinished jobs that went silent."""
        settings = self._settings
        changed: list[uuid.UUID] = []
        resent = 0
        async with self._sessions() as session:
            repo = IngestRepository(session)
            silent = await repo.jobs_to_resend(
                now(),
                timedelta(seconds=settings.pending_resend_seconds),
                timedelta(seconds=settings.stale_running_seconds),
                settings.relay_batch_size,
            )
            for job in silent:
                changed.append(job.id)
                reason = self._give_up_reason(job)
                if reason is not None:
                    fail(job, reason)
                    log.error("job_given_up", job_id=str(job.id), reason=reason)
                    continue
                file = await repo.get_file(job.file_id) if job.file_id is not None else None
                if file is None or file.deleted_at is not None:
                    fail(job, "The uploaded file is no longer available")
                    continue
                was = job.status
                await repo.add_outbox(OutboxMessage(job_id=job.id, body=job_message(job, file)))
                job.status = "pending"
                job.message = (
                    "Re-queued: no worker picked it up yet"
                    if was == "pending"
                    else "Re-queued: its worker stopped answering"
                )
                job.heartbeat_at = now()
                job.updated_at = job.heartbeat_at
                resent += 1
                log.warning("job_resent", job_id=str(job.id), was=was, dispatches=job.dispatches)
            await session.commit()
        for job_id in changed:
            await self._events.publish(str(job_id))
        if resent:
            await self.send_due()
        return resent

    def _give_up_reason(self, job: Job) -> str | None:
        settings = self._settings
        if job.status == "running" and job.attempt >= settings.max_dispatches:
            return (
                f"No worker finished this job after {job.attempt} attempts (the workers "
                "crashed or stopped answering); upload the file again"
            )
        waited = (now() - job.created_at).total_seconds()
        if job.status == "pending" and waited > settings.max_pending_seconds:
            return (
                f"No worker took this job in {int(waited // 60)} minutes; "
                "upload the file again later"
            )
        return None

    async def fail_dead_letters(self) -> int:
        """Fail the unfinished jobs whose message is in the dead-letter queue. The
        messages stay there for operators; each is looked at again after an hour."""
        queues = await self.queues()
        answer = await self._sqs.receive_message(
            QueueUrl=queues.dead_letter_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=0,
            VisibilityTimeout=3600,
            AttributeNames=["ApproximateReceiveCount"],
        )
        failed = 0
        for raw in answer.get("Messages", []):
            try:
                job_id = uuid.UUID(str(orjson.loads(raw.get("Body") or b"{}").get("job_id")))
            except (ValueError, AttributeError, orjson.JSONDecodeError):
                continue
            async with self._sessions() as session:
                repo = IngestRepository(session)
                job = await repo.get_job(job_id, for_update=True)
                if job is None or job.status not in UNFINISHED:
                    continue
                last = job.message or ""
                fail(
                    job,
                    "Processing failed repeatedly and was given up (dead-letter queue)"
                    + (f": {last}" if last.startswith("Attempt") else ""),
                )
                await session.commit()
            failed += 1
            log.error("job_dead_lettered", job_id=str(job_id))
            await self._events.publish(str(job_id))
        return failed

    async def housekeeping(self) -> None:
        async with self._sessions() as session:
            repo = IngestRepository(session)
            events = await repo.prune_events(
                now() - timedelta(hours=self._settings.webhook_event_retention_hours)
            )
            outbox = await repo.prune_sent_outbox(now() - SENT_OUTBOX_RETENTION)
            await session.commit()
        if events or outbox:
            log.info("ingest_pruned", webhook_events=events, outbox=outbox)

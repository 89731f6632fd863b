"""Running one job message: the contract between the SQS loop, the handlers and ingest.

For each message: parse the job (a malformed one goes straight to the dead-letter
queue), tell ingest it started (a job already finished is dropped: a duplicate),
run its handler in a fresh work directory while keeping the message invisible to
other workers, and report the outcome:

- the handler's result → ``job.completed``; the message is deleted;
- :class:`JobFailed` → ``job.failed`` with its reason; deleted (no retry);
- any other exception → ``job.retrying``; the message comes back after its
  visibility timeout; on the last allowed receive → ``job.failed`` and the message
  is moved to the dead-letter queue;
- the object store unreachable → ``job.retrying`` and the worker waits for the store
  (message kept, see :mod:`~services.ingest.worker.outages`), then a new attempt;
- SIGTERM: the job gets ``shutdown_grace_seconds`` to finish, then it is released
  (visible again at once) for another worker.

"Deleted" means: this callable returns and the consumer deletes the message;
"comes back" means: it raises and the consumer leaves the message alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import orjson

from services.ingest.worker.context import JobContext
from services.ingest.worker.errors import (
    JobCancelled,
    JobFailed,
    WebhookRejected,
)
from services.ingest.worker.messages import JobMessage, JobSpec, MalformedMessage
from services.ingest.worker.outages import StoreOutage, StoreWait, is_store_outage
from services.ingest.worker.queues import JobQueues
from services.ingest.worker.settings import WorkerSettings
from services.ingest.worker.webhooks import WebhookClient
from shared.log import get_logger
from shared.tasks import stop_tasks

log = get_logger("services.ingest.worker")

JobHandler = Callable[[JobContext], Awaitable[dict[str, Any]]]
MAX_REASON = 1000


class JobReleased(Exception):
    """The worker is stopping: the message was made visible again for another worker."""


def describe(exc: BaseException) -> str:
    """A short, human description of an unexpected failure (no traceback, no secrets)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    name = type(exc).__name__
    return (f"{name}: {text}" if text else name)[:MAX_REASON]


class JobExecutor:
    def __init__(
        self,
        *,
        settings: WorkerSettings,
        sqs: Any,
        s3: Any,
        queues: JobQueues,
        webhooks: WebhookClient,
        handlers: Mapping[str, JobHandler],
        stopping: asyncio.Event,
    ) -> None:
        self._settings = settings
        self._sqs = sqs
        self._s3 = s3
        self._queues = queues
        self._webhooks = webhooks
        self._handlers = handlers
        self._stopping = stopping

    @property
    def job_types(self) -> list[str]:
        return sorted(self._handlers)

    async def __call__(self, message: JobMessage) -> None:
        try:
            spec = JobSpec.from_body(message.body)
        except MalformedMessage as exc:
            log.error("malformed_job", message_id=message.message_id, error=str(exc))
            await self._dead_letter(message, f"malformed job message: {exc}")
            return
        handler = self._handlers[spec.type]
        outage = StoreOutage(self._settings.store_outage_wait_seconds)
        # A new attempt each time the object store came back after an outage.
        while await self._attempt(spec, handler, message, outage):
            pass

    async def _attempt(
        self, spec: JobSpec, handler: JobHandler, message: JobMessage, outage: StoreOutage
    ) -> bool:
        """One attempt at the job; True when it must run again (the store is back)."""
        try:
            started = await self._webhooks.deliver(
                "ingest",
                "job.started",
                {"job_id": spec.job_id, "receive_count": message.receive_count},
            )
        except WebhookRejected as exc:
            if exc.status == 404:  # no such job (a stray message): nothing to do
                log.warning("job_unknown_to_ingest", job_id=spec.job_id)
                return False
            raise
        if not started.get("proceed"):
            log.info("job_already_finished", job_id=spec.job_id, status=started.get("status"))
            return False
        attempt = int(started["attempt"])
        context = {"job_id": spec.job_id, "type": spec.type, "attempt": attempt}
        self._settings.work_dir.mkdir(parents=True, exist_ok=True)
        work_dir = Path(tempfile.mkdtemp(prefix=f"job-{spec.job_id}-", dir=self._settings.work_dir))
        ctx = JobContext(
            spec=spec,
            attempt=attempt,
            receive_count=message.receive_count,
            s3=self._s3,
            webhooks=self._webhooks,
            bucket=self._settings.bucket,
            work_dir=work_dir,
            progress_interval=self._settings.progress_interval_seconds,
            settings=self._settings,
        )
        log.info("job_started", **context)
        try:
            result = await self._run(handler, ctx, message)
        except JobFailed as exc:
            log.info("job_failed", reason=exc.reason, **context)
            await self._report(ctx, "job.failed", {"reason": exc.reason[:MAX_REASON]})
            return False
        except JobReleased:
            log.info("job_released", **context)
            await self._report_released(ctx)
            raise
        except JobCancelled:
            log.info("job_cancelled", **context)
            return False
        except Exception as exc:
            reason = describe(exc)
            # Now, not only in the finally: a wait for the store may last minutes, and the
            # work dir can hold a partial download of the upload.
            await asyncio.to_thread(shutil.rmtree, work_dir, True)
            if is_store_outage(exc) and outage.remaining() > 0 and not self._stopping.is_set():
                waited = await self._wait_for_store(ctx, message, outage, reason)
                if waited is StoreWait.BACK:
                    return True
                if waited is StoreWait.ENDED:
                    return False
                if waited is StoreWait.STOPPING:
                    await self._release(message)
                    await self._report_released(ctx)
                    raise JobReleased() from exc
            if message.receive_count >= self._settings.max_receive_count:
                log.exception("job_given_up", reason=reason, **context)
                await self._report(
                    ctx,
                    "job.failed",
                    {
                        "reason": f"Processing failed {message.receive_count} times; "
                        f"last error: {reason}"
                    },
                )
                await self._dead_letter(message, reason)
                return False
            log.exception("job_attempt_failed", reason=reason, **context)
            with contextlib.suppress(Exception):
                await self._report(ctx, "job.retrying", {"reason": reason})
            raise
        finally:
            await asyncio.to_thread(shutil.rmtree, work_dir, True)
        await self._report(ctx, "job.completed", {"result": result})
        log.info("job_completed", **context)
        return False

    async def _wait_for_store(
        self, ctx: JobContext, message: JobMessage, outage: StoreOutage, reason: str
    ) -> StoreWait:
        """The object store is unreachable: keep the message (hidden, heartbeats sent)
        and wait for the store, without spending one of the message's receives."""
        log.warning("job_waits_for_store", job_id=ctx.job_id, attempt=ctx.attempt, reason=reason)
        with contextlib.suppress(Exception):
            await self._report(
                ctx,
                "job.retrying",
                {"reason": f"the object store is unreachable; waiting for it ({reason})"},
            )
        keeper = asyncio.create_task(self._keep_invisible(message, ctx))
        try:
            waited = await outage.wait_until_back(
                self._s3, self._settings.bucket, stopping=self._stopping, ended=ctx.cancelled.is_set
            )
        finally:
            await stop_tasks([keeper])
        log.info("job_store_wait_over", job_id=ctx.job_id, outcome=waited.value)
        return waited

    async def _report_released(self, ctx: JobContext) -> None:
        await self._report(
            ctx, "job.retrying", {"reason": "the worker stopped; another worker resumes it"}
        )

    async def _report(self, ctx: JobContext, topic: str, payload: dict[str, Any]) -> None:
        await self._webhooks.deliver(
            "ingest", topic, {"job_id": ctx.job_id, "attempt": ctx.attempt, **payload}
        )

    async def _run(self, handler: JobHandler, ctx: JobContext, message: JobMessage) -> Any:
        """The handler, with the message kept invisible meanwhile, cut short (and the
        message released) when the worker stops for longer than the grace period."""
        work = asyncio.ensure_future(handler(ctx))
        keeper = asyncio.create_task(self._keep_invisible(message, ctx))
        stop = asyncio.create_task(self._stopping.wait())
        try:
            await asyncio.wait({work, stop}, return_when=asyncio.FIRST_COMPLETED)
            if not work.done():
                # Stopping: let the job finish within the grace period.
                await asyncio.wait({work}, timeout=self._settings.shutdown_grace_seconds)
            if not work.done():
                ctx.cancelled.set()
                work.cancel()
                with contextlib.suppress(BaseException):
                    await work
                await self._release(message)
                raise JobReleased()
            return work.result()
        finally:
            for task in (keeper, stop):
                task.cancel()
            for task in (keeper, stop):
                with contextlib.suppress(BaseException):
                    await task

    async def _keep_invisible(self, message: JobMessage, ctx: JobContext) -> None:
        """While the handler runs: extend the message's visibility and tell ingest the
        worker is alive (a long step may send no progress)."""
        timeout = self._settings.visibility_timeout_seconds
        interval = min(max(1.0, timeout / 3), self._settings.job_heartbeat_seconds)
        while True:
            await asyncio.sleep(interval)
            if timeout > 0:
                try:
                    await self._sqs.change_message_visibility(
                        QueueUrl=self._queues.jobs_url,
                        ReceiptHandle=message.receipt_handle,
                        VisibilityTimeout=timeout,
                    )
                except Exception as exc:  # the message may come back: the job is idempotent
                    log.warning("extend_visibility_failed", error=describe(exc))
            try:
                answer = await self._webhooks.deliver(
                    "ingest", "job.heartbeat", {"job_id": ctx.job_id, "attempt": ctx.attempt}
                )
            except Exception as exc:
                log.warning("heartbeat_not_delivered", error=describe(exc))
                continue
            if answer.get("proceed") is False:
                ctx.cancelled.set()  # the job ended elsewhere, or another attempt took it

    async def _release(self, message: JobMessage) -> None:
        with contextlib.suppress(Exception):
            await self._sqs.change_message_visibility(
                QueueUrl=self._queues.jobs_url,
                ReceiptHandle=message.receipt_handle,
                VisibilityTimeout=0,
            )

    async def _dead_letter(self, message: JobMessage, reason: str) -> None:
        """Move the message to the dead-letter queue now (the consumer deletes it
        from the jobs queue when we return)."""
        await self._sqs.send_message(
            QueueUrl=self._queues.dead_letter_url,
            MessageBody=orjson.dumps(message.body).decode(),
            MessageAttributes={
                "reason": {"DataType": "String", "StringValue": reason[:MAX_REASON] or "unknown"},
                "source_message_id": {"DataType": "String", "StringValue": message.message_id},
            },
        )

"""The SQS loop: long-poll the jobs queue, hand each message to the handler of its
``type``, delete it only once the handler succeeded (at-least-once delivery)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any

from services.ingest.worker.handlers import Handler
from services.ingest.worker.messages import JobMessage, MalformedMessage
from services.ingest.worker.queues import JobQueues
from services.ingest.worker.settings import WorkerSettings
from shared.backoff import Backoff
from shared.log import get_logger

log = get_logger("services.ingest.worker")


def receive_backoff() -> Backoff:
    """Waits after failed receives in a row: 0.5 s doubling to 30 s, jittered."""
    return Backoff(base=0.5, cap=30.0)


class JobConsumer:
    def __init__(
        self,
        sqs: Any,
        queues: JobQueues,
        handlers: Mapping[str, Handler],
        settings: WorkerSettings,
        *,
        backoff: Backoff | None = None,
    ) -> None:
        self._sqs = sqs
        self._queues = queues
        self._handlers = handlers
        self._settings = settings
        self.backoff = backoff or receive_backoff()

    async def run(self, stopping: asyncio.Event) -> None:
        """Consume until ``stopping`` is set; a message in hand is finished first."""
        while not stopping.is_set():
            try:
                messages = await self._receive(stopping)
            except Exception as exc:
                wait = self.backoff.next()
                log.warning(
                    "receive_failed",
                    error=f"{type(exc).__name__}: {exc}",
                    attempt=self.backoff.attempts,
                    retry_in_seconds=round(wait, 2),
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), wait)
                continue
            self.backoff.reset()
            for message in messages:
                await self._dispatch(message)

    async def _receive(self, stopping: asyncio.Event) -> list[dict[str, Any]]:
        """One long poll, abandoned as soon as we are asked to stop (whatever SQS
        handed to an abandoned poll comes back after its visibility timeout)."""
        receive = asyncio.ensure_future(
            self._sqs.receive_message(
                QueueUrl=self._queues.jobs_url,
                MaxNumberOfMessages=self._settings.receive_batch_size,
                WaitTimeSeconds=self._settings.receive_wait_seconds,
                AttributeNames=["ApproximateReceiveCount"],
            )
        )
        stop = asyncio.ensure_future(stopping.wait())
        try:
            await asyncio.wait({receive, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        if not receive.done():
            receive.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await receive
            return []
        messages: list[dict[str, Any]] = receive.result().get("Messages", [])
        return messages

    async def _dispatch(self, raw: dict[str, Any]) -> None:
        try:
            message = JobMessage.from_sqs(raw)
        except MalformedMessage as exc:
            # Left alone: it comes back until SQS moves it to the dead-letter queue.
            log.error("malformed_job_message", message_id=raw.get("MessageId"), error=str(exc))
            return
        context = {
            "message_id": message.message_id,
            "type": message.type,
            "receive_count": message.receive_count,
        }
        handler = self._handlers.get(message.type)
        if handler is None:
            log.warning("no_handler_for_job_message", **context)
            await self._retry_later(message)
            return
        try:
            await handler(message)
        except Exception:
            log.exception("job_handler_failed", **context)
            return  # visible again after the visibility timeout; dead-lettered eventually
        await self._sqs.delete_message(
            QueueUrl=self._queues.jobs_url, ReceiptHandle=message.receipt_handle
        )
        log.info("job_message_done", **context)

    async def _retry_later(self, message: JobMessage) -> None:
        try:
            await self._sqs.change_message_visibility(
                QueueUrl=self._queues.jobs_url,
                ReceiptHandle=message.receipt_handle,
                VisibilityTimeout=self._settings.unhandled_retry_delay_seconds,
            )
        except Exception as exc:  # it comes back after the queue's visibility timeout anyway
            log.warning("change_visibility_failed", error=f"{type(exc).__name__}: {exc}")

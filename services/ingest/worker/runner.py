"""Start-up and shutdown of the worker process."""

from __future__ import annotations

import asyncio
import signal
from contextlib import AsyncExitStack
from typing import Any

import httpx
from redis.asyncio import Redis

from services.ingest.worker.consumer import JobConsumer
from services.ingest.worker.documents.runtime import running_documents
from services.ingest.worker.execution import JobExecutor
from services.ingest.worker.handlers import JOB_HANDLERS, Handler
from services.ingest.worker.liveness import keep_beating
from services.ingest.worker.queues import JobQueues, declare_queues
from services.ingest.worker.settings import WorkerSettings
from services.ingest.worker.webhooks import WebhookClient
from shared.aws import new_session, open_s3, open_sqs
from shared.backoff import Backoff
from shared.log import configure_logging, get_logger
from shared.redis_retry import reconnect_once

log = get_logger("services.ingest.worker")
# 0.5, 1, 2, 4, then 5 s (jittered down to half): at most about a minute in all.
DECLARE_ATTEMPTS = 15


async def declare_with_retry(
    sqs: Any, settings: WorkerSettings, *, backoff: Backoff | None = None
) -> JobQueues:
    """SQS may come up after us (containers): retry with jittered backoff, then give up."""
    delays = backoff or Backoff(base=0.5, cap=5.0)
    while True:
        try:
            return await declare_queues(sqs, settings)
        except Exception as exc:
            if delays.attempts + 1 >= DECLARE_ATTEMPTS:
                raise
            wait = delays.next()
            log.warning(
                "queue_declare_failed",
                attempt=delays.attempts,
                error=f"{type(exc).__name__}",
                retry_in_seconds=round(wait, 2),
            )
            await asyncio.sleep(wait)


async def run(settings: WorkerSettings) -> None:
    """Consume until SIGTERM or SIGINT; the message in hand is finished first."""
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    async with AsyncExitStack() as stack:
        session = new_session()  # one for both clients: botocore's tables load once
        sqs = await open_sqs(stack, settings, session)
        s3 = await open_s3(stack, settings, session)
        http = await stack.enter_async_context(
            httpx.AsyncClient(
                timeout=httpx.Timeout(settings.webhook_timeout_seconds, connect=5.0),
                limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
            )
        )
        redis = Redis.from_url(
            settings.redis_url,
            socket_timeout=5.0,
            socket_connect_timeout=5.0,
            retry=reconnect_once(),  # a Redis restart leaves no dead pooled connection
        )
        stack.push_async_callback(redis.aclose)
        await stack.enter_async_context(running_documents(redis))
        queues = await declare_with_retry(sqs, settings)
        executor = JobExecutor(
            settings=settings,
            sqs=sqs,
            s3=s3,
            queues=queues,
            webhooks=WebhookClient(
                http,
                secret=settings.webhook_secret,
                receivers={
                    "ingest": settings.ingest_internal_url,
                    "analysis": settings.analysis_internal_url,
                },
                timeout=settings.webhook_timeout_seconds,
                retry_budget=settings.webhook_retry_budget_seconds,
            ),
            handlers=JOB_HANDLERS,
            stopping=stopping,
        )
        handlers: dict[str, Handler] = dict.fromkeys(executor.job_types, executor)
        log.info(
            "worker_started",
            queue=settings.jobs_queue,
            dead_letter_queue=settings.dead_letter_queue,
            max_receive_count=settings.max_receive_count,
            handlers=sorted(handlers),
        )
        heartbeat = asyncio.create_task(
            keep_beating(
                redis, settings.heartbeat_interval_seconds, stopping, settings.liveness_file
            )
        )
        try:
            await JobConsumer(sqs, queues, handlers, settings).run(stopping)
        finally:
            stopping.set()
            await heartbeat
    log.info("worker_stopped")


def main() -> int:
    settings = WorkerSettings()
    configure_logging("worker", settings.log_level, json=settings.log_json)
    asyncio.run(run(settings))
    return 0

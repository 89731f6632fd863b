"""What a job handler gets: the job, its file, and the platform's services.

A handler is ``async def handle(ctx: JobContext) -> dict`` (the job's result). It
raises :class:`~services.ingest.worker.errors.JobFailed` for bad input; anything
else is retried. CPU-heavy work belongs in a thread (``await asyncio.to_thread``)
or a process, calling :meth:`JobContext.check_cancelled` now and then.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services.ingest.worker.errors import JobCancelled
from services.ingest.worker.messages import FileRef, JobSpec, OwnerRef
from services.ingest.worker.settings import WorkerSettings
from services.ingest.worker.webhooks import WebhookClient

DOWNLOAD_CHUNK = 1024 * 1024


@dataclass
class JobContext:
    spec: JobSpec
    attempt: int
    receive_count: int
    s3: Any
    webhooks: WebhookClient
    bucket: str
    work_dir: Path
    progress_interval: float = 0.5
    # The worker's settings (a handler reads its own knobs there).
    settings: WorkerSettings = field(default_factory=WorkerSettings)
    # Set when the job must stop (shutdown, or the job ended elsewhere); threads poll it.
    cancelled: threading.Event = field(default_factory=threading.Event)
    _last_progress: float = field(default=0.0, repr=False)
    _last_sent: tuple[int, str | None] = field(default=(-1, None), repr=False)

    @property
    def job_id(self) -> str:
        return self.spec.job_id

    @property
    def type(self) -> str:
        return self.spec.type

    @property
    def params(self) -> dict[str, Any]:
        return self.spec.params

    @property
    def file(self) -> FileRef:
        return self.spec.file

    @property
    def owner(self) -> OwnerRef:
        return self.spec.owner

    def check_cancelled(self) -> None:
        """Raise :class:`JobCancelled` if the job must stop (safe from any thread)."""
        if self.cancelled.is_set():
            raise JobCancelled("the job was cancelled")

    async def download(self) -> Path:
        """The job's object, streamed from S3 to a file in the job's work directory
        (removed with it after the job)."""
        target = self.work_dir / "source"
        answer = await self.s3.get_object(Bucket=self.file.bucket, Key=self.file.key)
        body = answer["Body"]
        with target.open("wb") as out:
            async for chunk in body.iter_chunks(DOWNLOAD_CHUNK):
                self.check_cancelled()
                await asyncio.to_thread(out.write, chunk)
        return target

    async def upload_artifact(
        self, name: str, path: Path, content_type: str = "application/octet-stream"
    ) -> dict[str, Any]:
        """Store ``path`` as the job's artifact ``name``; its ref ``{bucket, key, size}``."""
        self.check_cancelled()
        key = f"artifacts/{self.job_id}/{name}"
        size = await asyncio.to_thread(os.path.getsize, path)
        with path.open("rb") as body:
            await self.s3.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=body,
                ContentLength=size,
                ContentType=content_type,
            )
        return {"bucket": self.bucket, "key": key, "size": size}

    async def progress(self, percent: int, message: str, phase: str | None = None) -> None:
        """Report progress (at most every ``progress_interval`` seconds, unless the phase
        changes); raises :class:`JobCancelled` if ingest says the job ended meanwhile."""
        self.check_cancelled()
        percent = max(0, min(99, int(percent)))
        clock = time.monotonic()
        phase_changed = phase is not None and phase != self._last_sent[1]
        if not phase_changed and (
            clock - self._last_progress < self.progress_interval or percent == self._last_sent[0]
        ):
            return
        self._last_progress = clock
        self._last_sent = (percent, phase or self._last_sent[1])
        answer = await self.webhooks.deliver(
            "ingest",
            "job.progress",
            {
                "job_id": self.job_id,
                "attempt": self.attempt,
                "percent": percent,
                "message": message,
                "phase": phase,
            },
        )
        if answer.get("proceed") is False:
            self.cancelled.set()
            raise JobCancelled("the job ended elsewhere")

    async def deliver(
        self, service: str, topic: str, payload: dict[str, Any], *, timeout: float | None = None
    ) -> dict[str, Any]:
        """A signed webhook to ``service`` (``ingest`` or ``analysis``), retried with
        backoff; the receiver's JSON answer. ``job_id`` and ``attempt`` are added."""
        self.check_cancelled()
        return await self.webhooks.deliver(
            service,
            topic,
            {"job_id": self.job_id, "attempt": self.attempt, **payload},
            timeout=timeout,
        )

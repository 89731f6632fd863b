from __future__ import annotations

import tempfile
from pathlib import Path

from pydantic import Field

from shared.settings import CommonSettings, service_config, shared_field


class WorkerSettings(CommonSettings):
    """Settings of the parse worker (env prefix ``INGEST_``, shared with the ingest
    service so both name the same queues and bucket)."""

    model_config = service_config("INGEST_")

    jobs_queue: str = "quarry-jobs"
    dead_letter_queue: str = "quarry-jobs-dead-letter"
    # Receives of one message before SQS moves it to the dead-letter queue.
    max_receive_count: int = Field(5, ge=1, le=1000)
    # How long a received message stays hidden from other workers while one works on it
    # (the worker extends it while the job runs, so a job may take longer).
    visibility_timeout_seconds: int = Field(300, ge=0, le=43_200)
    # A message no handler took comes back after this long (another worker may know it).
    unhandled_retry_delay_seconds: int = Field(30, ge=0, le=43_200)
    receive_wait_seconds: int = Field(20, ge=0, le=20)  # SQS long polling
    receive_batch_size: int = Field(1, ge=1, le=10)
    heartbeat_interval_seconds: float = Field(5.0, gt=0)
    # Touched at every heartbeat: a per-process liveness probe (Kubernetes) reads its age.
    liveness_file: Path | None = None

    # Object storage: the uploads' bucket, where the worker also writes its artifacts.
    bucket: str = "quarry-files"
    # Where jobs download their input and write artifacts before uploading them.
    work_dir: Path = Field(default_factory=lambda: Path(tempfile.gettempdir()) / "quarry-worker")

    # Webhook receivers (the services' internal URLs).
    ingest_internal_url: str = shared_field("INGEST_INTERNAL_URL", "http://127.0.0.1:8102")
    analysis_internal_url: str = shared_field("ANALYSIS_INTERNAL_URL", "http://127.0.0.1:8103")
    # One webhook call, and the whole budget of its retries (jittered backoff).
    webhook_timeout_seconds: float = Field(120.0, gt=0)
    webhook_retry_budget_seconds: float = Field(60.0, ge=0)
    # While a job runs, its message's visibility is extended and ingest told the worker
    # is alive this often (at most a third of the visibility timeout). Keep it below
    # ingest's INGEST_TAKEOVER_AFTER_SECONDS.
    job_heartbeat_seconds: float = Field(15.0, gt=0)
    # Progress webhooks: at most this often per job.
    progress_interval_seconds: float = Field(0.5, ge=0)
    # On SIGTERM the job in hand gets this long to finish; then it is released (its
    # message visible again at once) for another worker.
    shutdown_grace_seconds: float = Field(10.0, ge=0)
    # While the object store is unreachable a job waits for it this long (its message
    # kept, the store probed with backoff) before the attempt counts as failed.
    store_outage_wait_seconds: float = Field(600.0, ge=0)

    # Skype exports: messages per bulk-load chunk (one COPY each, its rows inline in its
    # webhook, or an S3 artifact when they would not fit one).
    skype_chunk_messages: int = Field(8192, ge=100)

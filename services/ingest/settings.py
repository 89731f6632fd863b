from __future__ import annotations

from pydantic import Field

from shared.settings import CommonSettings, service_config, shared_field

MIB = 1024 * 1024


class IngestSettings(CommonSettings):
    """Settings of the ingest service (env prefix ``INGEST_``; the worker reads the
    same prefix, so both name the same queues and bucket)."""

    model_config = service_config("INGEST_")

    host: str = "127.0.0.1"
    port: int = 8102

    # Object storage: uploads and the worker's artifacts.
    bucket: str = "quarry-files"
    # S3 multipart part size while streaming an upload (S3's minimum is 5 MiB), and
    # how many parts may be on their way to S3 while the next one is received.
    upload_part_bytes: int = Field(8 * MIB, ge=5 * MIB, le=512 * MIB)
    upload_parts_in_flight: int = Field(1, ge=1, le=16)

    # Queues: the same variables as the worker's (services/ingest/worker/settings.py);
    # whichever starts first declares them with their redrive policy.
    jobs_queue: str = "quarry-jobs"
    dead_letter_queue: str = "quarry-jobs-dead-letter"
    max_receive_count: int = Field(5, ge=1, le=1000)
    visibility_timeout_seconds: int = Field(300, ge=0, le=43_200)

    # Skype uploads (API.md "Size and sync/async").
    skype_sync_max_bytes: int = Field(50 * MIB, ge=0)
    skype_max_bytes: int = Field(1024 * MIB, ge=1)
    # How long a synchronous upload waits for its job before answering its task_id.
    sync_wait_seconds: float = Field(240.0, ge=0)
    # The longest `Prefer: wait=N` honoured on GET /jobs/{id}.
    max_prefer_wait_seconds: float = Field(120.0, ge=0)
    # SSE: a comment line this often keeps proxies from closing an idle stream.
    events_keepalive_seconds: float = Field(15.0, gt=0)
    # Waiters re-read the job from the database this often even without a Redis event.
    wait_reread_seconds: float = Field(2.0, gt=0)

    # The outbox relay: how often it looks for unsent messages (it is also woken at once
    # by a commit in this process), and the retry delay of a failed send.
    relay_interval_seconds: float = Field(1.0, gt=0)
    relay_retry_seconds: float = Field(5.0, gt=0)
    relay_batch_size: int = Field(100, ge=1, le=1000)
    # A job still pending this long after its message was sent is sent again (the queue
    # may have lost it), then after twice as long, and so on (capped at an hour): a
    # backlog costs a few harmless duplicates, which workers drop. A job pending for
    # `max_pending_seconds` fails (no worker took it).
    pending_resend_seconds: float = Field(120.0, gt=0)
    max_pending_seconds: float = Field(6 * 3600.0, gt=0)
    # A running job whose worker went silent this long is sent again. Keep it above the
    # worker's visibility timeout: a crashed worker's message comes back by itself.
    stale_running_seconds: float = Field(420.0, gt=0)
    # A worker may take over a running job only once it has been silent this long
    # (below the visibility timeout, above the worker's heartbeat interval): before
    # that, another worker is on it and a duplicate message is dropped.
    takeover_after_seconds: float = Field(60.0, gt=0)
    # After this many worker attempts that went silent or failed, the job fails.
    max_dispatches: int = Field(4, ge=1)
    # Dead-letter queue watch: jobs whose message landed there are marked failed.
    dead_letter_poll_seconds: float = Field(10.0, gt=0)
    # Dataset uploads (POST /api/upload/, API.md "Other uploads: 50 MB default maximum").
    dataset_max_bytes: int = Field(50 * MIB, ge=1)
    # Where analysis listens: a dataset upload is registered there before it is queued.
    analysis_internal_url: str = shared_field("ANALYSIS_INTERNAL_URL", "http://127.0.0.1:8103")
    # Webhook signatures older or newer than this are refused (replays).
    webhook_tolerance_seconds: int = Field(300, ge=1)
    # Applied webhook events are remembered this long (deduplication).
    webhook_event_retention_hours: int = Field(72, ge=1)
    # Files (spec/file-processing-api.md): the largest document, how long convert /
    # parse-file / tonality-analysis wait for the worker before answering 202 with the
    # job (a `Prefer: wait=N` header shortens it), and how long a download URL lives.
    files_max_bytes: int = Field(50 * MIB, ge=1)
    files_wait_seconds: float = Field(60.0, ge=0, le=280)
    files_download_expiry_seconds: int = Field(300, ge=1, le=7 * 24 * 3600)

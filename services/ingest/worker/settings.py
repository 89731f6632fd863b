from __future__ import annotations

from pydantic import Field

from shared.settings import CommonSettings, service_config


class WorkerSettings(CommonSettings):
    """Settings of the parse worker (env prefix ``INGEST_``, shared with the ingest
    service so both name the same queues)."""

    model_config = service_config("INGEST_")

    jobs_queue: str = "quarry-jobs"
    dead_letter_queue: str = "quarry-jobs-dead-letter"
    # Receives of one message before SQS moves it to the dead-letter queue.
    max_receive_count: int = Field(5, ge=1, le=1000)
    # How long a received message stays hidden from other workers while one works on it.
    visibility_timeout_seconds: int = Field(300, ge=0, le=43_200)
    # A message no handler took comes back after this long (another worker may know it).
    unhandled_retry_delay_seconds: int = Field(30, ge=0, le=43_200)
    receive_wait_seconds: int = Field(20, ge=0, le=20)  # SQS long polling
    receive_batch_size: int = Field(1, ge=1, le=10)
    heartbeat_interval_seconds: float = Field(5.0, gt=0)

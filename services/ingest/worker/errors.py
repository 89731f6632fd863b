"""What a job handler raises to end its job."""

from __future__ import annotations


class JobFailed(Exception):
    """Bad input: the job fails at once with ``reason`` (shown to the user), no retry.

    Any other exception means "try again": the message comes back after its
    visibility timeout, and after ``max_receive_count`` receives the job fails
    and the message goes to the dead-letter queue.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class JobCancelled(Exception):
    """The job must stop: it ended elsewhere (completed, failed, deleted) or the
    worker is shutting down. Raised by :class:`~services.ingest.worker.context.JobContext`
    calls (and by ``ctx.check_cancelled()`` in a handler's thread)."""


class WebhookRejected(Exception):
    """The receiver refused the webhook for good (a 4xx other than 408/429)."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}: {body[:300]}")
        self.status = status


class WebhookUndeliverable(Exception):
    """The receiver could not be reached (or kept failing) within the retry budget."""

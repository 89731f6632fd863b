"""The jobs queue and its dead-letter queue, declared idempotently at start-up (by the
worker and by ingest's relay, whichever comes first, with the same settings)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol


class QueueSettings(Protocol):
    jobs_queue: str
    dead_letter_queue: str
    max_receive_count: int
    visibility_timeout_seconds: int


@dataclass(frozen=True)
class JobQueues:
    jobs_url: str
    dead_letter_url: str


async def declare_queues(sqs: Any, settings: QueueSettings) -> JobQueues:
    """Create both queues if absent and (re)apply the redrive policy, so a changed
    ``max_receive_count`` or visibility timeout takes effect on the next start."""
    dead_letter_url: str = (await sqs.create_queue(QueueName=settings.dead_letter_queue))[
        "QueueUrl"
    ]
    attributes = await sqs.get_queue_attributes(
        QueueUrl=dead_letter_url, AttributeNames=["QueueArn"]
    )
    redrive = {
        "deadLetterTargetArn": attributes["Attributes"]["QueueArn"],
        "maxReceiveCount": str(settings.max_receive_count),
    }
    jobs_url: str = (await sqs.create_queue(QueueName=settings.jobs_queue))["QueueUrl"]
    await sqs.set_queue_attributes(
        QueueUrl=jobs_url,
        Attributes={
            "RedrivePolicy": json.dumps(redrive),
            "VisibilityTimeout": str(settings.visibility_timeout_seconds),
        },
    )
    return JobQueues(jobs_url=jobs_url, dead_letter_url=dead_letter_url)

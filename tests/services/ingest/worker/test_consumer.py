"""The worker's SQS loop against a real SQS server (moto over HTTP): dispatch by
type, delete only after success, dead-letter what nobody handles, prompt stop."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import pytest

from deploy.backing import BackingServices
from services.ingest.worker.consumer import JobConsumer
from services.ingest.worker.handlers import Handler
from services.ingest.worker.messages import JobMessage
from services.ingest.worker.queues import JobQueues, declare_queues
from services.ingest.worker.settings import WorkerSettings
from shared.aws import open_sqs


@pytest.fixture
def settings(backing: BackingServices) -> WorkerSettings:
    name = f"test-jobs-{uuid.uuid4().hex[:10]}"
    return WorkerSettings(
        sqs_endpoint_url=backing.sqs_endpoint_url,
        aws_region=backing.aws_region,
        aws_access_key_id=backing.aws_access_key_id,
        aws_secret_access_key=backing.aws_secret_access_key,
        jobs_queue=name,
        dead_letter_queue=f"{name}-dead",
        max_receive_count=2,
        unhandled_retry_delay_seconds=0,
        visibility_timeout_seconds=30,
        receive_wait_seconds=1,
    )


@pytest.fixture
async def sqs(settings: WorkerSettings) -> AsyncIterator[Any]:
    async with AsyncExitStack() as stack:
        yield await open_sqs(stack, settings)


async def count_messages(sqs: Any, url: str) -> int:
    attributes = await sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )
    values = attributes["Attributes"]
    return int(values["ApproximateNumberOfMessages"]) + int(
        values["ApproximateNumberOfMessagesNotVisible"]
    )


async def consume_until(consumer: JobConsumer, done: Any, timeout: float = 15.0) -> None:
    stopping = asyncio.Event()
    task = asyncio.create_task(consumer.run(stopping))
    try:
        deadline = time.monotonic() + timeout
        while not await done():
            assert time.monotonic() < deadline, "condition not reached in time"
            await asyncio.sleep(0.1)
    finally:
        stopping.set()
        await asyncio.wait_for(task, 5)


async def test_declaring_twice_keeps_one_pair_of_queues(sqs: Any, settings: WorkerSettings) -> None:
    first = await declare_queues(sqs, settings)
    again = await declare_queues(sqs, settings)
    assert first == again
    attributes = await sqs.get_queue_attributes(QueueUrl=first.jobs_url, AttributeNames=["All"])
    redrive = json.loads(attributes["Attributes"]["RedrivePolicy"])
    assert int(redrive["maxReceiveCount"]) == 2
    assert attributes["Attributes"]["VisibilityTimeout"] == "30"


async def test_a_handled_message_is_dispatched_by_type_and_deleted(
    sqs: Any, settings: WorkerSettings
) -> None:
    queues = await declare_queues(sqs, settings)
    seen: list[JobMessage] = []

    async def parse(message: JobMessage) -> None:
        seen.append(message)

    await sqs.send_message(QueueUrl=queues.jobs_url, MessageBody='{"type": "parse", "job": 7}')
    consumer = JobConsumer(sqs, queues, {"parse": parse}, settings)

    async def handled() -> bool:
        return bool(seen) and await count_messages(sqs, queues.jobs_url) == 0

    await consume_until(consumer, handled)
    assert [(m.type, m.body["job"]) for m in seen] == [("parse", 7)]


async def test_unhandled_and_failing_messages_end_in_the_dead_letter_queue(
    sqs: Any, settings: WorkerSettings
) -> None:
    queues: JobQueues = await declare_queues(sqs, settings)
    attempts: list[int] = []

    async def broken(message: JobMessage) -> None:
        attempts.append(message.receive_count)
        raise RuntimeError("parser crashed")

    handlers: dict[str, Handler] = {"broken": broken}
    for body in ('{"type": "nobody-handles-this"}', "not json", '{"type": "broken"}'):
        await sqs.send_message(QueueUrl=queues.jobs_url, MessageBody=body)
    # The failing one comes back after its visibility timeout: make that immediate.
    await sqs.set_queue_attributes(QueueUrl=queues.jobs_url, Attributes={"VisibilityTimeout": "0"})
    consumer = JobConsumer(sqs, queues, handlers, settings)

    async def all_dead_lettered() -> bool:
        return await count_messages(sqs, queues.dead_letter_url) == 3

    await consume_until(consumer, all_dead_lettered)
    assert await count_messages(sqs, queues.jobs_url) == 0
    assert attempts[:2] == [1, 2]


async def test_stop_interrupts_a_long_poll(sqs: Any, settings: WorkerSettings) -> None:
    patient = settings.model_copy(update={"receive_wait_seconds": 20})
    queues = await declare_queues(sqs, patient)
    stopping = asyncio.Event()
    task = asyncio.create_task(JobConsumer(sqs, queues, {}, patient).run(stopping))
    await asyncio.sleep(0.5)
    started = time.monotonic()
    stopping.set()
    await asyncio.wait_for(task, 5)
    assert time.monotonic() - started < 2

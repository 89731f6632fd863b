"""The worker's SQS loop against a real SQS server (moto over HTTP): dispatch by
type, delete only after success, dead-letter what nobody handles, prompt stop,
jittered backoff after failures. No wall-clock assertions: tests wait for events or
queue states (with a generous hang guard) and count what happened."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import pytest

from deploy.backing import BackingServices
from services.ingest.worker.consumer import JobConsumer
from services.ingest.worker.handlers import Handler
from services.ingest.worker.messages import JobMessage
from services.ingest.worker.queues import JobQueues, declare_queues
from services.ingest.worker.runner import DECLARE_ATTEMPTS, declare_with_retry
from services.ingest.worker.settings import WorkerSettings
from shared.aws import open_sqs
from shared.backoff import Backoff

HANG_GUARD_SECONDS = 60.0  # only a test that hangs ever reaches it


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


async def consume_until(consumer: JobConsumer, done: Callable[[], Awaitable[bool]]) -> None:
    """Run ``consumer`` until ``done()`` holds (re-checked after each 0.1 s)."""
    stopping = asyncio.Event()
    task = asyncio.create_task(consumer.run(stopping))

    async def reached() -> None:
        while not await done():
            assert not task.done(), "the consumer stopped on its own"
            await asyncio.sleep(0.1)

    try:
        await asyncio.wait_for(reached(), HANG_GUARD_SECONDS)
    finally:
        stopping.set()
        await asyncio.wait_for(task, HANG_GUARD_SECONDS)


class CountingPolls:
    """The real SQS client, counting long polls started and finished."""

    def __init__(self, sqs: Any) -> None:
        self._sqs = sqs
        self.started = 0
        self.finished = 0
        self.polling = asyncio.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sqs, name)

    async def receive_message(self, **kwargs: Any) -> Any:
        self.started += 1
        self.polling.set()
        result = await self._sqs.receive_message(**kwargs)
        self.finished += 1
        return result


def recording_backoff(ceilings: list[float], after: int, reached: asyncio.Event) -> Backoff:
    """A backoff that records each un-jittered wait and waits almost nothing."""

    def uniform(low: float, high: float) -> float:
        assert low == high / 2
        ceilings.append(high)
        if len(ceilings) >= after:
            reached.set()
        return 0.01

    return Backoff(base=0.5, cap=4.0, uniform=uniform)


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
    counting = CountingPolls(sqs)
    stopping = asyncio.Event()
    task = asyncio.create_task(JobConsumer(counting, queues, {}, patient).run(stopping))
    await asyncio.wait_for(counting.polling.wait(), HANG_GUARD_SECONDS)
    stopping.set()
    await asyncio.wait_for(task, HANG_GUARD_SECONDS)
    # The 20 s poll was abandoned, not waited out: it never returned to the consumer.
    assert counting.started == 1
    assert counting.finished == 0


async def test_receive_failures_back_off_and_a_success_resets_the_curve(
    sqs: Any, settings: WorkerSettings
) -> None:
    queues = await declare_queues(sqs, settings)
    await sqs.delete_queue(QueueUrl=queues.jobs_url)  # every receive now fails
    ceilings: list[float] = []
    failing = asyncio.Event()
    handled: list[JobMessage] = []

    async def parse(message: JobMessage) -> None:
        handled.append(message)

    consumer = JobConsumer(
        sqs, queues, {"parse": parse}, settings, backoff=recording_backoff(ceilings, 3, failing)
    )

    async def recover_then_handled() -> bool:
        if failing.is_set() and not handled and consumer.backoff.attempts:
            await declare_queues(sqs, settings)  # the queue is back
            await sqs.send_message(QueueUrl=queues.jobs_url, MessageBody='{"type": "parse"}')
            failing.clear()
        return bool(handled)

    await consume_until(consumer, recover_then_handled)
    assert ceilings[:3] == [0.5, 1.0, 2.0]  # doubling, before any success
    assert consumer.backoff.attempts == 0  # a successful receive reset it


async def test_declaring_queues_retries_with_backoff_then_gives_up(
    sqs: Any, settings: WorkerSettings
) -> None:
    refused = settings.model_copy(update={"dead_letter_queue": "not a valid queue name!"})
    ceilings: list[float] = []
    with pytest.raises(Exception, match=r"(?i)invalid|name"):
        await declare_with_retry(
            sqs, refused, backoff=recording_backoff(ceilings, DECLARE_ATTEMPTS, asyncio.Event())
        )
    assert len(ceilings) == DECLARE_ATTEMPTS - 1  # waits between the tries, none after the last
    assert ceilings[:4] == [0.5, 1.0, 2.0, 4.0]
    assert max(ceilings) == 4.0  # bounded

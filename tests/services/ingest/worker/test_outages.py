"""Telling an unreachable object store from a job's own failure, and waiting for the
store, against the real S3 server of the test session and a port nobody listens on."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import botocore.exceptions
import pytest

from deploy.backing import BackingServices
from services.ingest.worker.outages import StoreOutage, StoreWait, is_store_outage
from services.ingest.worker.settings import WorkerSettings
from shared.aws import open_s3


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def settings_for(backing: BackingServices, endpoint: str) -> WorkerSettings:
    return WorkerSettings(
        s3_endpoint_url=endpoint,
        aws_region=backing.aws_region,
        aws_access_key_id=backing.aws_access_key_id,
        aws_secret_access_key=backing.aws_secret_access_key,
    )


@pytest.fixture
async def live_s3(backing: BackingServices) -> AsyncIterator[Any]:
    async with AsyncExitStack() as stack:
        yield await open_s3(stack, settings_for(backing, backing.s3_endpoint_url))


@pytest.fixture
async def dead_s3(backing: BackingServices) -> AsyncIterator[Any]:
    async with AsyncExitStack() as stack:
        yield await open_s3(stack, settings_for(backing, f"http://127.0.0.1:{closed_port()}"))


async def test_a_refused_connection_is_an_outage_even_when_wrapped(dead_s3: Any) -> None:
    with pytest.raises(botocore.exceptions.EndpointConnectionError) as raised:
        await dead_s3.head_bucket(Bucket="any")
    assert is_store_outage(raised.value)
    wrapped = RuntimeError("reading the upload failed")
    wrapped.__cause__ = raised.value
    assert is_store_outage(wrapped)


async def test_an_answer_from_the_store_is_not_an_outage(live_s3: Any) -> None:
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        await live_s3.head_bucket(Bucket="no-such-bucket-here")
    assert not is_store_outage(raised.value)
    assert not is_store_outage(ValueError("a bad export"))


async def test_the_wait_ends_as_soon_as_the_store_answers(live_s3: Any) -> None:
    outage = StoreOutage(60)
    waited = await outage.wait_until_back(
        live_s3, "no-such-bucket-here", stopping=asyncio.Event(), ended=lambda: False
    )
    assert waited is StoreWait.BACK
    assert outage.remaining() > 50


async def test_a_store_still_away_after_the_budget_fails_the_attempt(dead_s3: Any) -> None:
    outage = StoreOutage(1.0)
    waited = await outage.wait_until_back(
        dead_s3, "any", stopping=asyncio.Event(), ended=lambda: False
    )
    assert waited is StoreWait.GAVE_UP
    assert outage.remaining() == 0


async def test_a_stopping_worker_or_an_ended_job_stops_the_wait(dead_s3: Any) -> None:
    stopping = asyncio.Event()
    stopping.set()
    assert (
        await StoreOutage(60).wait_until_back(
            dead_s3, "any", stopping=stopping, ended=lambda: False
        )
        is StoreWait.STOPPING
    )
    assert (
        await StoreOutage(60).wait_until_back(
            dead_s3, "any", stopping=asyncio.Event(), ended=lambda: True
        )
        is StoreWait.ENDED
    )

"""Streaming one object into S3 (real moto): multipart with parts in flight, sha256 of
what was written, a small object as one PUT, nothing left behind on abort."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import pytest
import pytest_asyncio

from services.ingest.settings import IngestSettings
from services.ingest.uploads.storage import StreamingObjectWriter, ensure_bucket
from shared.aws import open_s3

MIB = 1024 * 1024
BUCKET = "ingest-storage-tests"


@pytest_asyncio.fixture
async def s3(backing: Any) -> AsyncIterator[Any]:
    settings = IngestSettings(
        s3_endpoint_url=backing.s3_endpoint_url,
        aws_region=backing.aws_region,
        aws_access_key_id=backing.aws_access_key_id,
        aws_secret_access_key=backing.aws_secret_access_key,
    )
    async with AsyncExitStack() as stack:
        client = await open_s3(stack, settings)
        await ensure_bucket(client, BUCKET)
        yield client


async def stored(s3: Any, key: str) -> bytes:
    answer = await s3.get_object(Bucket=BUCKET, Key=key)
    data: bytes = await answer["Body"].read()
    return data


@pytest.mark.parametrize("size", [0, 1000, 5 * MIB, 12 * MIB + 12345])
async def test_what_is_written_is_stored_with_its_digest(s3: Any, size: int) -> None:
    data = os.urandom(size)
    key = f"t/{uuid.uuid4()}"
    writer = StreamingObjectWriter(s3, BUCKET, key, part_bytes=5 * MIB, parts_in_flight=2)
    # Written in uneven pieces, as a request body arrives.
    for start in range(0, size, 700_001):
        await writer.write(data[start : start + 700_001])
    await writer.finish()
    assert writer.size == size
    assert writer.sha256 == hashlib.sha256(data).hexdigest()
    assert await stored(s3, key) == data


async def test_an_aborted_upload_leaves_nothing(s3: Any) -> None:
    key = f"t/{uuid.uuid4()}"
    writer = StreamingObjectWriter(s3, BUCKET, key, part_bytes=5 * MIB, parts_in_flight=2)
    await writer.write(os.urandom(11 * MIB))
    await writer.abort()
    listed = await s3.list_objects_v2(Bucket=BUCKET, Prefix=key)
    assert listed.get("KeyCount", 0) == 0
    uploads = await s3.list_multipart_uploads(Bucket=BUCKET, Prefix=key)
    assert not uploads.get("Uploads")

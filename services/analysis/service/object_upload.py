"""Writing a stream of bytes into one S3 object as it is produced (multipart upload,
parts of a fixed size; a small object is a single PUT), so a kept export never sits
whole in memory or on disk. On any failure the multipart upload is aborted: no part
is left behind."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class StoredObject:
    bucket: str
    key: str
    size: int


async def ensure_bucket(s3: Any, bucket: str) -> None:
    try:
        await s3.head_bucket(Bucket=bucket)
    except Exception:
        try:
            await s3.create_bucket(Bucket=bucket)
        except Exception as exc:
            # Another replica created it between the two calls: fine.
            if "BucketAlready" not in type(exc).__name__ and "BucketAlready" not in str(exc):
                raise


async def upload_stream(
    s3: Any,
    bucket: str,
    key: str,
    chunks: AsyncIterable[bytes],
    *,
    content_type: str,
    content_disposition: str,
    part_bytes: int,
) -> StoredObject:
    buffer = bytearray()
    size = 0
    upload_id: str | None = None
    parts: list[dict[str, Any]] = []
    headers = {"ContentType": content_type, "ContentDisposition": content_disposition}

    async def send_part(data: bytes) -> None:
        nonlocal upload_id
        if upload_id is None:
            started = await s3.create_multipart_upload(Bucket=bucket, Key=key, **headers)
            upload_id = started["UploadId"]
        number = len(parts) + 1
        answer = await s3.upload_part(
            Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=data
        )
        parts.append({"PartNumber": number, "ETag": answer["ETag"]})

    try:
        async for chunk in chunks:
            buffer += chunk
            size += len(chunk)
            while len(buffer) >= part_bytes:
                await send_part(bytes(buffer[:part_bytes]))
                del buffer[:part_bytes]
        if upload_id is None:
            await s3.put_object(Bucket=bucket, Key=key, Body=bytes(buffer), **headers)
        else:
            if buffer:
                await send_part(bytes(buffer))
            await s3.complete_multipart_upload(
                Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
    except BaseException:
        if upload_id is not None:
            # The first failure is the one to report.
            with contextlib.suppress(Exception):
                await s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        raise
    return StoredObject(bucket, key, size)

"""Writing one S3 object from a stream of bytes, with flat memory.

:class:`StreamingObjectWriter` buffers at most one part, keeps at most
``parts_in_flight`` parts on their way to S3 while the next one fills, and computes
the SHA-256 of everything written (in a thread: hashlib releases the GIL, so the
event loop keeps receiving). An object smaller than one part is a single PUT.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from typing import Any

from shared.log import get_logger

log = get_logger("services.ingest.uploads.storage")


async def ensure_bucket(s3: Any, bucket: str) -> None:
    """Create ``bucket`` unless it exists (several replicas may race: both succeed)."""
    try:
        await s3.head_bucket(Bucket=bucket)
        return
    except Exception:
        log.info("bucket_missing", bucket=bucket)
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        await s3.create_bucket(Bucket=bucket)


async def delete_object(s3: Any, bucket: str, key: str) -> None:
    """Delete one object; deleting what is already gone succeeds."""
    await s3.delete_object(Bucket=bucket, Key=key)


async def delete_prefix(s3: Any, bucket: str, prefix: str) -> int:
    """Delete every object under ``prefix``; returns how many there were."""
    deleted = 0
    paginator = s3.get_paginator("list_objects_v2")
    async for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if keys:
            await s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
            deleted += len(keys)
    return deleted


class StreamingObjectWriter:
    """One object written in order by :meth:`write`, then :meth:`finish` or :meth:`abort`."""

    def __init__(
        self,
        s3: Any,
        bucket: str,
        key: str,
        *,
        part_bytes: int,
        parts_in_flight: int,
        content_type: str = "application/octet-stream",
        metadata: dict[str, str] | None = None,
    ) -> None:
        self._s3 = s3
        self.bucket = bucket
        self.key = key
        self._part_bytes = part_bytes
        self._slots = asyncio.Semaphore(parts_in_flight)
        self._content_type = content_type
        self._metadata = metadata or {}
        # Pieces of the part being filled, joined once when it is full (one copy per part).
        self._pieces: list[bytes] = []
        self._buffered = 0
        self._upload_id: str | None = None
        self._parts: dict[int, str] = {}
        self._last_part = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._hasher = hashlib.sha256()
        self._hashing: asyncio.Task[None] | None = None
        self._failure: BaseException | None = None
        self.size = 0
        self._closed = False

    @property
    def sha256(self) -> str:
        """The hex digest of everything written (valid after :meth:`finish`)."""
        return self._hasher.hexdigest()

    async def write(self, data: bytes | bytearray | memoryview) -> None:
        self._raise_failure()
        view = memoryview(data).cast("B")
        self.size += len(view)
        offset = 0
        while offset < len(view):
            take = min(self._part_bytes - self._buffered, len(view) - offset)
            self._pieces.append(bytes(view[offset : offset + take]))
            self._buffered += take
            offset += take
            if self._buffered == self._part_bytes:
                part = b"".join(self._pieces)
                self._pieces = []
                self._buffered = 0
                await self._send_part(part)

    async def finish(self) -> None:
        """Complete the object (everything written so far)."""
        self._closed = True
        rest = b"".join(self._pieces)
        self._pieces = []
        self._buffered = 0
        if self._upload_id is None:
            await self._hash(rest, self._hashing)
            await self._s3.put_object(
                Bucket=self.bucket,
                Key=self.key,
                Body=rest,
                ContentType=self._content_type,
                Metadata=self._metadata,
            )
            return
        if rest:
            await self._send_part(rest)
        await self._drain()
        self._raise_failure()
        if self._hashing is not None:
            await self._hashing
        await self._s3.complete_multipart_upload(
            Bucket=self.bucket,
            Key=self.key,
            UploadId=self._upload_id,
            MultipartUpload={
                "Parts": [
                    {"PartNumber": number, "ETag": etag}
                    for number, etag in sorted(self._parts.items())
                ]
            },
        )

    async def abort(self) -> None:
        """Give up: nothing of the object remains (parts already sent are discarded)."""
        self._closed = True
        for task in self._tasks:
            task.cancel()
        await self._drain(suppress=True)
        if self._upload_id is not None:
            try:
                await self._s3.abort_multipart_upload(
                    Bucket=self.bucket, Key=self.key, UploadId=self._upload_id
                )
            except Exception as exc:  # a lifecycle rule cleans up what this misses
                log.warning("abort_multipart_failed", key=self.key, error=repr(exc))

    # --- internals ---

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure

    async def _hash(self, data: bytes, previous: asyncio.Task[None] | None) -> None:
        if previous is not None:
            await previous  # digests are chained: in order
        if data:
            await asyncio.to_thread(self._hasher.update, data)

    async def _send_part(self, part: bytes) -> None:
        if self._upload_id is None:
            created = await self._s3.create_multipart_upload(
                Bucket=self.bucket,
                Key=self.key,
                ContentType=self._content_type,
                Metadata=self._metadata,
            )
            self._upload_id = created["UploadId"]
        # Hash in order, in the background, while the part travels.
        self._hashing = asyncio.create_task(self._hash(part, self._hashing))
        await self._slots.acquire()
        self._raise_failure()
        self._last_part += 1
        number = self._last_part
        task = asyncio.create_task(self._upload_part(number, part))
        self._tasks.add(task)
        task.add_done_callback(self._part_done)

    async def _upload_part(self, number: int, part: bytes) -> None:
        try:
            answer = await self._s3.upload_part(
                Bucket=self.bucket,
                Key=self.key,
                UploadId=self._upload_id,
                PartNumber=number,
                Body=part,
            )
            self._parts[number] = answer["ETag"]
        finally:
            self._slots.release()

    def _part_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None and self._failure is None:
            self._failure = task.exception()

    async def _drain(self, *, suppress: bool = False) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=suppress)
        if self._hashing is not None:
            with contextlib.suppress(BaseException) if suppress else contextlib.nullcontext():
                await self._hashing

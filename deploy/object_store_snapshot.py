"""moto keeps S3 and SQS in memory; ``make up`` keeps them on disk through its API.

Layout under the data directory::

    s3/<bucket>/index.json      key -> file, ETag, size, content type, metadata, headers
    s3/<bucket>/objects/<id>    one object's bytes
    sqs/queues.json             every queue: name, attributes (redrive policy...), tags
    sqs/messages.json           messages pending at the last graceful stop, until restored

:meth:`ObjectStoreSnapshot.snapshot` is incremental: an object whose ETag and size
are unchanged is not read again, files of deleted objects and buckets are removed.
Bodies are streamed in 1 MiB chunks both ways. SQS messages cannot be read without
receiving them, so they are saved only by the final snapshot (``messages=True``, after
the platform's processes stopped): it receives every visible message. Messages
in flight (received, not deleted) or delayed at that moment are not saved; restored
messages start with a receive count of 0. Objects get new ``LastModified`` dates,
and an object first written by a multipart upload gets a plain MD5 ETag.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

CHUNK = 1 << 20
SNAPSHOT_INTERVAL = 30.0
_HEADERS = ("CacheControl", "ContentDisposition", "ContentEncoding", "ContentLanguage")
# Attributes CreateQueue accepts (the rest of GetQueueAttributes is read-only).
_QUEUE_ATTRIBUTES = (
    "DelaySeconds",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "Policy",
    "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout",
    "RedriveAllowPolicy",
    "KmsMasterKeyId",
    "KmsDataKeyReusePeriodSeconds",
    "SqsManagedSseEnabled",
)
_FIFO_ATTRIBUTES = ("ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit")
_IN_FLIGHT_SECONDS = 43200  # drained messages must not come back during the drain


@dataclass
class SnapshotStats:
    """What one snapshot or restore did."""

    buckets: int = 0
    objects_written: int = 0
    objects_kept: int = 0
    objects_removed: int = 0
    bytes_written: int = 0
    queues: int = 0
    messages: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        return (
            f"{self.buckets} buckets, {self.objects_written} objects written "
            f"({self.bytes_written / CHUNK:.1f} MiB), {self.objects_kept} unchanged, "
            f"{self.objects_removed} removed; {self.queues} queues, {self.messages} messages; "
            f"{self.seconds:.2f} s"
        )


def _write_json(path: Path, data: Any) -> None:
    """Atomically: a crash leaves the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    os.replace(tmp, path)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


@dataclass
class ObjectStoreSnapshot:
    """Save moto's buckets, objects and queues under ``directory`` and put them back."""

    endpoint_url: str
    directory: Path
    region: str = "us-east-1"
    access_key_id: str = "testing"
    secret_access_key: str = "testing"
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def s3_dir(self) -> Path:
        return self.directory / "s3"

    @property
    def sqs_dir(self) -> Path:
        return self.directory / "sqs"

    def _client(self, service: Literal["s3", "sqs"]) -> Any:
        return boto3.session.Session().client(
            service,
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            config=Config(
                s3={"addressing_style": "path"}, retries={"max_attempts": 3, "mode": "standard"}
            ),
        )

    # -- snapshot -------------------------------------------------------------------

    def snapshot(self, *, messages: bool = False) -> SnapshotStats:
        """Bring the files up to date with moto; ``messages`` also drains every queue
        into ``sqs/messages.json`` (only when nothing else consumes them any more)."""
        with self._lock:
            started = time.monotonic()
            stats = SnapshotStats()
            self._snapshot_s3(self._client("s3"), stats)
            self._snapshot_sqs(self._client("sqs"), stats, messages=messages)
            stats.seconds = time.monotonic() - started
            return stats

    def _snapshot_s3(self, s3: Any, stats: SnapshotStats) -> None:
        buckets = [b["Name"] for b in s3.list_buckets().get("Buckets", [])]
        for bucket in buckets:
            self._snapshot_bucket(s3, bucket, stats)
        stats.buckets = len(buckets)
        if self.s3_dir.is_dir():
            for stale in self.s3_dir.iterdir():
                if stale.is_dir() and stale.name not in buckets:
                    old = _read_json(stale / "index.json") or {}
                    stats.objects_removed += len(old.get("objects", {}))
                    shutil.rmtree(stale)

    def _snapshot_bucket(self, s3: Any, bucket: str, stats: SnapshotStats) -> None:
        bucket_dir = self.s3_dir / bucket
        objects_dir = bucket_dir / "objects"
        objects_dir.mkdir(parents=True, exist_ok=True)
        old = _read_json(bucket_dir / "index.json") or {}
        old_objects: dict[str, dict[str, Any]] = old.get("objects", {})
        location = s3.get_bucket_location(Bucket=bucket).get("LocationConstraint")
        objects: dict[str, dict[str, Any]] = {}
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for listed in page.get("Contents", []):
                key: str = listed["Key"]
                previous = old_objects.get(key)
                if (
                    previous is not None
                    and previous["etag"] == listed["ETag"]
                    and previous["size"] == listed["Size"]
                    and (objects_dir / previous["file"]).is_file()
                ):
                    objects[key] = previous
                    stats.objects_kept += 1
                    continue
                entry = self._download(s3, bucket, key, objects_dir)
                if entry is not None:  # else deleted since the listing
                    objects[key] = entry
                    stats.objects_written += 1
                    stats.bytes_written += entry["size"]
        _write_json(bucket_dir / "index.json", {"location": location, "objects": objects})
        stats.objects_removed += len(old_objects.keys() - objects.keys())
        referenced = {entry["file"] for entry in objects.values()}
        for path in objects_dir.iterdir():
            if path.name not in referenced:
                path.unlink()

    def _download(self, s3: Any, bucket: str, key: str, objects_dir: Path) -> dict[str, Any] | None:
        try:
            response = s3.get_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if _error_code(exc) in ("NoSuchKey", "404"):
                return None
            raise
        name = uuid.uuid4().hex
        with (objects_dir / name).open("wb") as out:
            for chunk in response["Body"].iter_chunks(CHUNK):
                out.write(chunk)
        return {
            "file": name,
            "etag": response["ETag"],
            "size": response["ContentLength"],
            "content_type": response.get("ContentType"),
            "metadata": response.get("Metadata", {}),
            "headers": {h: response[h] for h in _HEADERS if response.get(h)},
        }

    def _snapshot_sqs(self, sqs: Any, stats: SnapshotStats, *, messages: bool) -> None:
        queues = []
        for url in sqs.list_queues().get("QueueUrls", []):
            attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])
            tags = sqs.list_queue_tags(QueueUrl=url).get("Tags", {})
            queues.append(
                {
                    "name": url.rsplit("/", 1)[1],
                    "url": url,
                    "attributes": attributes.get("Attributes", {}),
                    "tags": tags,
                }
            )
        # Dead-letter queues after their sources: a message moto moves to one while
        # we drain its source is then drained from it too.
        targets = {
            json.loads(q["attributes"]["RedrivePolicy"])["deadLetterTargetArn"]
            for q in queues
            if q["attributes"].get("RedrivePolicy")
        }
        queues.sort(key=lambda q: q["attributes"].get("QueueArn") in targets)
        stats.queues = len(queues)
        drained: dict[str, list[dict[str, Any]]] = {}
        if messages:
            for queue in queues:
                drained[queue["name"]] = _drain(sqs, queue["url"])
                stats.messages += len(drained[queue["name"]])
        for queue in queues:
            del queue["url"]
        _write_json(self.sqs_dir / "queues.json", {"queues": queues})
        if messages:
            _write_json(self.sqs_dir / "messages.json", {"messages": drained})

    # -- restore --------------------------------------------------------------------

    def restore(self) -> SnapshotStats:
        """Put every saved bucket, object, queue and pending message back into a fresh moto."""
        with self._lock:
            started = time.monotonic()
            stats = SnapshotStats()
            if self.s3_dir.is_dir():
                s3 = self._client("s3")
                for bucket_dir in sorted(self.s3_dir.iterdir()):
                    if (bucket_dir / "index.json").is_file():
                        self._restore_bucket(s3, bucket_dir, stats)
            self._restore_sqs(self._client("sqs"), stats)
            stats.seconds = time.monotonic() - started
            return stats

    def _restore_bucket(self, s3: Any, bucket_dir: Path, stats: SnapshotStats) -> None:
        bucket = bucket_dir.name
        index = _read_json(bucket_dir / "index.json")
        create: dict[str, Any] = {"Bucket": bucket}
        if index.get("location"):
            create["CreateBucketConfiguration"] = {"LocationConstraint": index["location"]}
        try:
            s3.create_bucket(**create)
        except ClientError as exc:
            if _error_code(exc) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise
        stats.buckets += 1
        objects: dict[str, dict[str, Any]] = index.get("objects", {})
        for key, entry in objects.items():
            extra: dict[str, Any] = dict(entry.get("headers", {}))
            if entry.get("content_type"):
                extra["ContentType"] = entry["content_type"]
            with (bucket_dir / "objects" / entry["file"]).open("rb") as body:
                response = s3.put_object(
                    Bucket=bucket, Key=key, Body=body, Metadata=entry.get("metadata", {}), **extra
                )
            # The next snapshot must recognise the object (a multipart ETag changes).
            entry["etag"] = response["ETag"]
            stats.objects_written += 1
            stats.bytes_written += entry["size"]
        _write_json(bucket_dir / "index.json", index)

    def _restore_sqs(self, sqs: Any, stats: SnapshotStats) -> None:
        saved = _read_json(self.sqs_dir / "queues.json")
        if saved is None:
            return
        urls: dict[str, str] = {}
        for queue in saved["queues"]:
            attributes: dict[str, str] = queue["attributes"]
            fifo = attributes.get("FifoQueue") == "true"
            wanted = _QUEUE_ATTRIBUTES + (_FIFO_ATTRIBUTES if fifo else ())
            create = {k: attributes[k] for k in wanted if k in attributes}
            if fifo:
                create["FifoQueue"] = "true"
            kwargs: dict[str, Any] = {"QueueName": queue["name"], "Attributes": create}
            if queue.get("tags"):
                kwargs["tags"] = queue["tags"]
            urls[queue["name"]] = sqs.create_queue(**kwargs)["QueueUrl"]
        # A redrive policy names its dead-letter queue, which must exist by now.
        for queue in saved["queues"]:
            policy = queue["attributes"].get("RedrivePolicy")
            if policy:
                sqs.set_queue_attributes(
                    QueueUrl=urls[queue["name"]], Attributes={"RedrivePolicy": policy}
                )
        stats.queues = len(urls)
        pending = _read_json(self.sqs_dir / "messages.json")
        if pending is not None:
            for name, messages in pending["messages"].items():
                for message in messages:
                    sqs.send_message(QueueUrl=urls[name], **_send_arguments(message))
                    stats.messages += 1
            # Now in moto: a later crash must not send them a second time.
            (self.sqs_dir / "messages.json").unlink()


def _drain(sqs: Any, url: str) -> list[dict[str, Any]]:
    """Receive every visible message of the queue, oldest first (they stay in flight)."""
    drained: list[dict[str, Any]] = []
    while True:
        received = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=_IN_FLIGHT_SECONDS,
            WaitTimeSeconds=0,
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
        ).get("Messages", [])
        if not received:
            return drained
        for message in received:
            system = message.get("Attributes", {})
            drained.append(
                {
                    "body": message["Body"],
                    "attributes": _encode_attributes(message.get("MessageAttributes", {})),
                    "group_id": system.get("MessageGroupId"),
                    "deduplication_id": system.get("MessageDeduplicationId"),
                }
            )


def _encode_attributes(attributes: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    encoded: dict[str, dict[str, Any]] = {}
    for name, value in attributes.items():
        kept = {k: v for k, v in value.items() if k in ("DataType", "StringValue", "BinaryValue")}
        if isinstance(kept.get("BinaryValue"), bytes):
            kept["BinaryValue"] = base64.b64encode(kept["BinaryValue"]).decode()
        encoded[name] = kept
    return encoded


def _send_arguments(message: dict[str, Any]) -> dict[str, Any]:
    attributes = {}
    for name, value in message["attributes"].items():
        value = dict(value)
        if "BinaryValue" in value:
            value["BinaryValue"] = base64.b64decode(value["BinaryValue"])
        attributes[name] = value
    arguments: dict[str, Any] = {"MessageBody": message["body"]}
    if attributes:
        arguments["MessageAttributes"] = attributes
    if message.get("group_id"):
        arguments["MessageGroupId"] = message["group_id"]
    if message.get("deduplication_id"):
        arguments["MessageDeduplicationId"] = message["deduplication_id"]
    return arguments


@contextmanager
def kept_on_disk(
    store: ObjectStoreSnapshot,
    *,
    log: Callable[[str], None],
    interval: float = SNAPSHOT_INTERVAL,
) -> Iterator[None]:
    """Restore ``store`` now, snapshot it every ``interval`` seconds (objects and queue
    definitions) and a last time, messages included, on exit: leave the block before
    moto stops and after every consumer of its queues did."""
    if store.s3_dir.is_dir() or store.sqs_dir.is_dir():
        log(f"restored S3/SQS from {store.directory}: {store.restore().summary()}")
    stop = threading.Event()

    def periodically() -> None:
        while not stop.wait(interval):
            try:
                stats = store.snapshot()
            except Exception as exc:  # keep trying; the final one reports
                log(f"periodic S3/SQS snapshot failed: {type(exc).__name__}: {exc}")
            else:
                if stats.objects_written or stats.objects_removed:
                    log(f"saved S3 changes: {stats.summary()}")

    thread = threading.Thread(target=periodically, name="s3-snapshot", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        try:
            log(f"saved S3/SQS to {store.directory}: {store.snapshot(messages=True).summary()}")
        except Exception as exc:  # moto may be gone: stop the rest
            log(f"S3/SQS snapshot failed, changes since the last one are lost: {exc!r}")

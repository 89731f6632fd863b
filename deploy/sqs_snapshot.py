"""moto keeps SQS in memory; ``make up`` keeps the queues on disk through its API.

Layout under the data directory::

    sqs/queues.json             every queue: name, attributes (redrive policy...), tags
    sqs/messages.json           messages pending at the last graceful stop, until restored

Queue definitions are saved every 30 s and at the end. SQS messages cannot be read
without receiving them, so they are saved only by the final snapshot
(``messages=True``, after the platform's processes stopped): it receives every
visible message. Messages in flight (received, not deleted) or delayed at that moment
are not saved, nor any after a ``kill -9``; restored messages start with a receive
count of 0. This goes once the jobs outbox rebuilds queued jobs from PostgreSQL.
(S3 needs nothing of the kind: SeaweedFS keeps objects on disk, deploy/object_store.py.)
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

SNAPSHOT_INTERVAL = 30.0
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

    queues: int = 0
    messages: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        return f"{self.queues} queues, {self.messages} messages; {self.seconds:.2f} s"


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


@dataclass
class QueueSnapshot:
    """Save moto's queues (and, at the end, their messages) under ``directory``."""

    endpoint_url: str
    directory: Path
    region: str = "us-east-1"
    access_key_id: str = "testing"
    secret_access_key: str = "testing"
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def sqs_dir(self) -> Path:
        return self.directory / "sqs"

    def _client(self) -> Any:
        return boto3.session.Session().client(
            "sqs",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            config=Config(retries={"max_attempts": 3, "mode": "standard"}),
        )

    # -- snapshot -------------------------------------------------------------------

    def snapshot(self, *, messages: bool = False) -> SnapshotStats:
        """Save the queue definitions; ``messages`` also drains every queue into
        ``sqs/messages.json`` (only when nothing else consumes them any more)."""
        with self._lock:
            started = time.monotonic()
            stats = SnapshotStats()
            self._snapshot_sqs(self._client(), stats, messages=messages)
            stats.seconds = time.monotonic() - started
            return stats

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
        """Put every saved queue and pending message back into a fresh moto."""
        with self._lock:
            started = time.monotonic()
            stats = SnapshotStats()
            self._restore_sqs(self._client(), stats)
            stats.seconds = time.monotonic() - started
            return stats

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
    store: QueueSnapshot,
    *,
    log: Callable[[str], None],
    interval: float = SNAPSHOT_INTERVAL,
) -> Iterator[None]:
    """Restore ``store`` now, snapshot it every ``interval`` seconds (queue definitions)
    and a last time, messages included, on exit: leave the block before moto stops
    and after every consumer of its queues did."""
    if store.sqs_dir.is_dir():
        log(f"restored SQS from {store.directory}: {store.restore().summary()}")
    stop = threading.Event()

    def periodically() -> None:
        while not stop.wait(interval):
            try:
                store.snapshot()
            except Exception as exc:  # keep trying; the final one reports
                log(f"periodic SQS snapshot failed: {type(exc).__name__}: {exc}")

    thread = threading.Thread(target=periodically, name="sqs-snapshot", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        try:
            log(f"saved SQS to {store.directory}: {store.snapshot(messages=True).summary()}")
        except Exception as exc:  # moto may be gone: stop the rest
            log(f"SQS snapshot failed, pending messages are lost: {exc!r}")

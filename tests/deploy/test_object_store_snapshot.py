"""S3 objects and SQS queues survive a restart of moto through the snapshot that
``make up`` keeps under its data directory (deploy.object_store_snapshot)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3

from deploy.backing import start_backing
from deploy.moto_server import endpoint, launch_moto
from deploy.object_store_snapshot import ObjectStoreSnapshot, kept_on_disk

BIG = os.urandom(3 * 1024 * 1024 + 17)


@contextmanager
def moto(logs: Path) -> Iterator[str]:
    launch = launch_moto(log_path=logs / "moto.log")
    try:
        yield endpoint(launch.wait())
    finally:
        launch.stop()


def client(service: str, url: str) -> Any:
    return boto3.session.Session().client(
        service,
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def fill(url: str) -> None:
    s3 = client("s3", url)
    s3.create_bucket(Bucket="uploads")
    s3.put_object(Bucket="uploads", Key="big.bin", Body=BIG)
    s3.put_object(
        Bucket="uploads",
        Key="dir/notes ü.txt",
        Body=b"hello",
        ContentType="text/plain; charset=utf-8",
        Metadata={"owner": "alice", "sha": "abc"},
        ContentDisposition='attachment; filename="notes.txt"',
    )
    s3.create_bucket(Bucket="exports")
    s3.put_object(Bucket="exports", Key="gone.csv", Body=b"a,b\n")
    sqs = client("sqs", url)
    dlq = sqs.create_queue(QueueName="jobs-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    jobs = sqs.create_queue(QueueName="jobs", Attributes={"VisibilityTimeout": "120"})["QueueUrl"]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "5"})
    sqs.set_queue_attributes(QueueUrl=jobs, Attributes={"RedrivePolicy": redrive})
    for n in range(13):
        sqs.send_message(
            QueueUrl=jobs,
            MessageBody=json.dumps({"job": n}),
            MessageAttributes={
                "kind": {"DataType": "String", "StringValue": "parse"},
                "raw": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
            },
        )
    sqs.send_message(QueueUrl=dlq, MessageBody="poison")
    fifo = sqs.create_queue(
        QueueName="ordered.fifo",
        Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"},
    )["QueueUrl"]
    sqs.send_message(QueueUrl=fifo, MessageBody="first", MessageGroupId="g")


def receive_all(sqs: Any, url: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    while batch := sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60, MessageAttributeNames=["All"]
    ).get("Messages", []):
        found.extend(batch)
    return found


def read(s3: Any, bucket: str, key: str) -> tuple[bytes, dict[str, Any]]:
    response = s3.get_object(Bucket=bucket, Key=key)
    return response["Body"].read(), response


def test_objects_queues_and_messages_survive_a_restart(tmp_path: Path) -> None:
    with moto(tmp_path) as url:
        fill(url)
        stats = ObjectStoreSnapshot(url, tmp_path).snapshot(messages=True)
    assert (stats.buckets, stats.objects_written, stats.queues, stats.messages) == (2, 3, 3, 15)
    assert {p.name for p in (tmp_path / "s3").iterdir()} == {"uploads", "exports"}

    with moto(tmp_path) as url:
        restored = ObjectStoreSnapshot(url, tmp_path).restore()
        assert (restored.objects_written, restored.queues, restored.messages) == (3, 3, 15)
        assert not (tmp_path / "sqs" / "messages.json").exists()  # sent once only
        s3 = client("s3", url)
        assert read(s3, "uploads", "big.bin")[0] == BIG
        body, response = read(s3, "uploads", "dir/notes ü.txt")
        assert body == b"hello"
        assert response["ContentType"] == "text/plain; charset=utf-8"
        assert response["Metadata"] == {"owner": "alice", "sha": "abc"}
        assert response["ContentDisposition"] == 'attachment; filename="notes.txt"'
        assert read(s3, "exports", "gone.csv")[0] == b"a,b\n"

        sqs = client("sqs", url)
        urls = {u.rsplit("/", 1)[1]: u for u in sqs.list_queues()["QueueUrls"]}
        assert set(urls) == {"jobs", "jobs-dlq", "ordered.fifo"}
        attributes = sqs.get_queue_attributes(QueueUrl=urls["jobs"], AttributeNames=["All"])[
            "Attributes"
        ]
        assert attributes["VisibilityTimeout"] == "120"
        dlq_arn = sqs.get_queue_attributes(QueueUrl=urls["jobs-dlq"], AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        assert json.loads(attributes["RedrivePolicy"]) == {
            "deadLetterTargetArn": dlq_arn,
            "maxReceiveCount": 5,
        }
        fifo = sqs.get_queue_attributes(QueueUrl=urls["ordered.fifo"], AttributeNames=["All"])
        assert fifo["Attributes"]["FifoQueue"] == "true"
        jobs = receive_all(sqs, urls["jobs"])
        assert [json.loads(m["Body"])["job"] for m in jobs] == list(range(13))
        assert jobs[0]["MessageAttributes"]["kind"]["StringValue"] == "parse"
        assert jobs[0]["MessageAttributes"]["raw"]["BinaryValue"] == b"\x00\x01"
        assert [m["Body"] for m in receive_all(sqs, urls["jobs-dlq"])] == ["poison"]
        assert [m["Body"] for m in receive_all(sqs, urls["ordered.fifo"])] == ["first"]


def test_incremental_snapshot_skips_unchanged_and_removes_deleted(tmp_path: Path) -> None:
    with moto(tmp_path) as url:
        fill(url)
        store = ObjectStoreSnapshot(url, tmp_path)
        store.snapshot()
        big_file = json.loads((tmp_path / "s3" / "uploads" / "index.json").read_text())["objects"][
            "big.bin"
        ]["file"]
        big_path = tmp_path / "s3" / "uploads" / "objects" / big_file
        written_at = big_path.stat().st_mtime_ns

        s3 = client("s3", url)
        s3.delete_object(Bucket="uploads", Key="dir/notes ü.txt")
        s3.put_object(Bucket="uploads", Key="new.txt", Body=b"new")
        s3.delete_object(Bucket="exports", Key="gone.csv")
        s3.delete_bucket(Bucket="exports")
        stats = store.snapshot()
        assert (stats.objects_written, stats.objects_kept, stats.objects_removed) == (1, 1, 2)
        assert big_path.stat().st_mtime_ns == written_at  # not rewritten
        assert len(list((tmp_path / "s3" / "uploads" / "objects").iterdir())) == 2
        assert not (tmp_path / "s3" / "exports").exists()
        # Periodic snapshots leave the messages in the queues.
        assert not (tmp_path / "sqs" / "messages.json").exists()
        assert (
            client("sqs", url).get_queue_attributes(
                QueueUrl=client("sqs", url).get_queue_url(QueueName="jobs")["QueueUrl"],
                AttributeNames=["ApproximateNumberOfMessages"],
            )["Attributes"]["ApproximateNumberOfMessages"]
            == "13"
        )

    with moto(tmp_path) as url:
        store = ObjectStoreSnapshot(url, tmp_path)
        store.restore()
        again = store.snapshot()  # what a restore put back is not read again
        assert (again.objects_written, again.objects_kept) == (0, 2)


def test_kept_on_disk_restores_saves_periodically_and_on_exit(tmp_path: Path) -> None:
    lines: list[str] = []
    with moto(tmp_path) as url:
        store = ObjectStoreSnapshot(url, tmp_path)
        with kept_on_disk(store, log=lines.append, interval=0.2):
            client("s3", url).create_bucket(Bucket="kept")
            client("s3", url).put_object(Bucket="kept", Key="k", Body=b"v")
            client("sqs", url).send_message(
                QueueUrl=client("sqs", url).create_queue(QueueName="q")["QueueUrl"],
                MessageBody="m",
            )
            deadline = time.monotonic() + 5
            while not (tmp_path / "s3" / "kept" / "index.json").exists():
                if time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            assert (tmp_path / "s3" / "kept" / "index.json").exists(), "no periodic snapshot"
    assert any(line.startswith("saved S3/SQS") for line in lines), lines

    with moto(tmp_path) as url, kept_on_disk(ObjectStoreSnapshot(url, tmp_path), log=lines.append):
        assert read(client("s3", url), "kept", "k")[0] == b"v"
        sqs = client("sqs", url)
        queue = sqs.get_queue_url(QueueName="q")["QueueUrl"]
        assert [m["Body"] for m in receive_all(sqs, queue)] == ["m"]
    assert any(line.startswith("restored S3/SQS") for line in lines), lines


def test_throwaway_backing_keeps_no_snapshot(tmp_path: Path) -> None:
    """Tests start moto with ``persistent=False``: nothing is restored or saved."""
    configured = {"DATABASE_URL": "unused", "REDIS_URL": "unused"}  # moto only
    with start_backing(tmp_path, persistent=False, configured=configured) as services:
        client("s3", services.s3_endpoint_url).create_bucket(Bucket="throwaway")
    assert not (tmp_path / "s3").exists()
    assert not (tmp_path / "sqs").exists()

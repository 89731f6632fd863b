"""SQS queues, and messages pending at a graceful stop, survive a restart of moto
through the snapshot that ``make up`` keeps under its data directory
(deploy.sqs_snapshot)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3

from deploy.backing import start_backing
from deploy.moto_server import endpoint, launch_moto
from deploy.sqs_snapshot import QueueSnapshot, kept_on_disk


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


def test_queues_and_messages_survive_a_restart(tmp_path: Path) -> None:
    with moto(tmp_path) as url:
        fill(url)
        stats = QueueSnapshot(url, tmp_path).snapshot(messages=True)
    assert (stats.queues, stats.messages) == (3, 15)

    with moto(tmp_path) as url:
        restored = QueueSnapshot(url, tmp_path).restore()
        assert (restored.queues, restored.messages) == (3, 15)
        assert not (tmp_path / "sqs" / "messages.json").exists()  # sent once only
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


def test_periodic_snapshots_leave_the_messages_in_the_queues(tmp_path: Path) -> None:
    with moto(tmp_path) as url:
        fill(url)
        QueueSnapshot(url, tmp_path).snapshot()
        assert (tmp_path / "sqs" / "queues.json").exists()
        assert not (tmp_path / "sqs" / "messages.json").exists()
        sqs = client("sqs", url)
        jobs = sqs.get_queue_url(QueueName="jobs")["QueueUrl"]
        pending = sqs.get_queue_attributes(
            QueueUrl=jobs, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]["ApproximateNumberOfMessages"]
        assert pending == "13"


def test_kept_on_disk_restores_saves_periodically_and_on_exit(tmp_path: Path) -> None:
    lines: list[str] = []
    with moto(tmp_path) as url:
        store = QueueSnapshot(url, tmp_path)
        with kept_on_disk(store, log=lines.append, interval=0.2):
            client("sqs", url).send_message(
                QueueUrl=client("sqs", url).create_queue(QueueName="q")["QueueUrl"],
                MessageBody="m",
            )
            saved = tmp_path / "sqs" / "queues.json"

            def has_queue() -> bool:
                return saved.exists() and '"name": "q"' in saved.read_text()

            for _ in range(300):  # a periodic snapshot every 0.2 s: up to 30 s under load
                if has_queue():
                    break
                time.sleep(0.1)
            assert has_queue(), "no periodic snapshot"
    assert any(line.startswith("saved SQS") for line in lines), lines

    with moto(tmp_path) as url, kept_on_disk(QueueSnapshot(url, tmp_path), log=lines.append):
        sqs = client("sqs", url)
        queue = sqs.get_queue_url(QueueName="q")["QueueUrl"]
        assert [m["Body"] for m in receive_all(sqs, queue)] == ["m"]
    assert any(line.startswith("restored SQS") for line in lines), lines


def test_throwaway_backing_keeps_no_snapshot(tmp_path: Path) -> None:
    """Tests start moto with ``persistent=False``: nothing is restored or saved."""
    configured = {"DATABASE_URL": "unused", "REDIS_URL": "unused", "S3_ENDPOINT_URL": "unused"}
    with start_backing(tmp_path, persistent=False, configured=configured) as services:
        client("sqs", services.sqs_endpoint_url).create_queue(QueueName="throwaway")
    assert not (tmp_path / "sqs").exists()

"""Faults of the pipeline, on a platform of this module's own (its own database and
queues, short timeouts), through the gateway:

- kill -9 of the worker mid-job: the message comes back after its visibility timeout,
  another worker completes the job, and every message is stored exactly once;
- SIGTERM mid-job: the worker releases the message and exits; the job completes;
- a queue that lost the job's message (purged, or deleted as a restarted moto does):
  the outbox relay sends it again;
- the object store unreachable (a cuttable link in front of it): an upload answers 503
  and stores nothing; a worker that cannot download retries and completes once it is back;
- the database unreachable mid-job: reads answer 503, the job completes with every
  message stored once;
- a message that keeps failing (analysis unreachable): the job fails with a human
  reason and the message is in the dead-letter queue.

The one look into a database here counts the stored rows of an export (the proof that
a redelivered job left no duplicate); everything else goes through the gateway.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from deploy.backing import BackingServices
from deploy.platform import (
    ROOT,
    RunningPlatform,
    inherited_environment,
    process_env,
    start_platform,
)
from deploy.processes import ManagedProcess, spawn
from deploy.topology import PROCESSES
from samples.skype import write_export
from services.ingest.worker.settings import WorkerSettings
from shared.aws import open_sqs
from shared.database import async_url
from tests.e2e.cuttable import CuttableLink
from tests.e2e.skype_helpers import SkypeUser, register_skype_user, upload

VISIBILITY = 6
SYNC_MAX = 1_000_000
HARD_MAX = 64_000_000
WORKER_SPEC = next(p for p in PROCESSES if p.name == "worker")


@pytest.fixture(scope="module")
def fault_database(backing: BackingServices) -> Iterator[str]:
    name = f"faults_{uuid.uuid4().hex[:10]}"

    async def run(statement: str) -> None:
        admin = create_async_engine(async_url(backing.database_url), isolation_level="AUTOCOMMIT")
        try:
            async with admin.connect() as conn:
                await conn.execute(text(statement))
        finally:
            await admin.dispose()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    url = make_url(async_url(backing.database_url)).set(database=name)
    yield url.render_as_string(hide_password=False)
    asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="module")
def store_link(backing: BackingServices) -> Iterator[CuttableLink]:
    """The object store as the fault platform's processes reach it (cuttable)."""
    target = urlsplit(backing.s3_endpoint_url)
    link = CuttableLink(target.hostname or "127.0.0.1", target.port or 80)
    yield link
    link.close()


@pytest.fixture(scope="module")
def database_link(fault_database: str) -> Iterator[CuttableLink]:
    """PostgreSQL as the fault platform's processes reach it (cuttable)."""
    url = make_url(fault_database)
    link = CuttableLink(url.host or "127.0.0.1", url.port or 5432)
    yield link
    link.close()


@pytest.fixture(scope="module")
def faults(
    backing: BackingServices,
    fault_database: str,
    store_link: CuttableLink,
    database_link: CuttableLink,
    platform_env: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RunningPlatform]:
    suffix = uuid.uuid4().hex[:8]
    database = make_url(fault_database).set(host="127.0.0.1", port=database_link.port)
    env = {
        **platform_env,
        "DATABASE_URL": database.render_as_string(hide_password=False),
        "S3_ENDPOINT_URL": store_link.url_for(backing.s3_endpoint_url),
        "INGEST_JOBS_QUEUE": f"faults-{suffix}",
        "INGEST_DEAD_LETTER_QUEUE": f"faults-{suffix}-dead",
        "INGEST_VISIBILITY_TIMEOUT_SECONDS": str(VISIBILITY),
        "INGEST_MAX_RECEIVE_COUNT": "2",
        "INGEST_RECEIVE_WAIT_SECONDS": "1",
        "INGEST_PENDING_RESEND_SECONDS": "4",
        "INGEST_STALE_RUNNING_SECONDS": "60",
        "INGEST_TAKEOVER_AFTER_SECONDS": "3",
        "INGEST_JOB_HEARTBEAT_SECONDS": "1",
        "INGEST_DEAD_LETTER_POLL_SECONDS": "1",
        "INGEST_SKYPE_CHUNK_MESSAGES": "2000",
        "INGEST_WEBHOOK_RETRY_BUDGET_SECONDS": "2",
        "INGEST_SHUTDOWN_GRACE_SECONDS": "0.5",
        # Small limits, to test the threshold and the hard maximum without gigabytes.
        "INGEST_SKYPE_SYNC_MAX_BYTES": str(SYNC_MAX),
        "INGEST_SKYPE_MAX_BYTES": str(HARD_MAX),
        "GATEWAY_REQUIRE_WORKER": "false",
        # These tests poll fast; the limiter is tested elsewhere.
        "GATEWAY_RATE_LIMIT_API": "100000/60",
    }
    data_dir = tmp_path_factory.mktemp("faults")
    with start_platform(data_dir, backing, extra_env=env) as running:
        yield running


@pytest.fixture
async def client(faults: RunningPlatform) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=faults.gateway_url, timeout=120) as c:
        yield c


@pytest.fixture(scope="module")
def slow_export(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    path = tmp_path_factory.mktemp("faults-data") / "messages.json"
    truth = write_export(path, 120_000, seed=21, bare=True)
    return path, truth.message_count


def start_worker(platform: RunningPlatform, name: str) -> ManagedProcess:
    env = process_env(WORKER_SPEC, platform.env, inherited_environment())
    log = platform.data_dir / "logs" / f"{name}.log"
    return spawn(name, [sys.executable, "-m", WORKER_SPEC.module], log_path=log, env=env, cwd=ROOT)


def the_worker(platform: RunningPlatform) -> ManagedProcess:
    return platform.processes["worker"]


async def status_of(client: httpx.AsyncClient, user: SkypeUser, task_id: str) -> dict[str, Any]:
    response = await client.get(f"/api/status/{task_id}", headers=user.headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def wait_status(
    client: httpx.AsyncClient,
    user: SkypeUser,
    task_id: str,
    done: Any,
    timeout: float = 120,
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        status = await status_of(client, user, task_id)
        if done(status):
            return status
        assert time.monotonic() < deadline, f"not reached in time: {status}"
        await asyncio.sleep(0.05)


async def stored_rows(database_url: str, export_id: int) -> tuple[int, int]:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    text(
                        "SELECT count(*), count(DISTINCT seq) FROM analysis.skype_messages "
                        "WHERE export_id = :e"
                    ),
                    {"e": export_id},
                )
            ).one()
            return int(row[0]), int(row[1])
    finally:
        await engine.dispose()


def replace_worker(platform: RunningPlatform, name: str) -> ManagedProcess:
    """A fresh worker in place of the platform's (stopped by the test)."""
    worker = start_worker(platform, name)
    platform.processes["worker"] = worker
    return worker


async def test_kill_9_mid_job_then_another_worker_completes_it_once(
    faults: RunningPlatform,
    client: httpx.AsyncClient,
    slow_export: tuple[Path, int],
    fault_database: str,
) -> None:
    path, messages = slow_export
    user = await register_skype_user(client, "kill")
    response = await upload(client, user, path.read_bytes(), params={"async": "true"})
    task_id = response.json()["task_id"]
    # Mid-job: the transform is under way (some chunks are already COPYed).
    await wait_status(client, user, task_id, lambda s: s["progress"] >= 30)
    victim = the_worker(faults)
    os.killpg(victim.pid, signal.SIGKILL)
    victim.popen.wait(10)
    interrupted = await status_of(client, user, task_id)
    assert interrupted["status"] in ("running", "pending"), interrupted
    replace_worker(faults, "worker-after-kill")
    final = await wait_status(
        client, user, task_id, lambda s: s["status"] in ("completed", "failed"), timeout=180
    )
    assert final["status"] == "completed", final
    export_id = final["export_id"]
    exports = (await client.get("/api/exports", headers=user.headers)).json()
    assert [e["message_count"] for e in exports if e["export_id"] == export_id] == [messages]
    analysis = (await client.get(f"/api/analysis/{export_id}", headers=user.headers)).json()
    assert analysis["message_count"] == messages
    assert await stored_rows(fault_database, export_id) == (messages, messages)


async def test_sigterm_mid_job_releases_it_and_the_job_completes(
    faults: RunningPlatform, client: httpx.AsyncClient, slow_export: tuple[Path, int]
) -> None:
    path, messages = slow_export
    user = await register_skype_user(client, "term")
    response = await upload(client, user, path.read_bytes(), params={"async": "true"})
    task_id = response.json()["task_id"]
    await wait_status(client, user, task_id, lambda s: s["progress"] >= 20)
    worker = the_worker(faults)
    worker.popen.send_signal(signal.SIGTERM)
    # It stops within its grace period (plus start-up noise), cleanly.
    assert worker.popen.wait(30) == 0
    released = await status_of(client, user, task_id)
    assert released["status"] in ("pending", "completed"), released
    replace_worker(faults, "worker-after-term")
    final = await wait_status(
        client, user, task_id, lambda s: s["status"] in ("completed", "failed"), timeout=120
    )
    assert final["status"] == "completed", final
    analysis = (
        await client.get(f"/api/analysis/{final['export_id']}", headers=user.headers)
    ).json()
    assert analysis["message_count"] == messages


async def sqs_of(platform: RunningPlatform) -> tuple[AsyncExitStack, Any, WorkerSettings]:
    settings = WorkerSettings(
        sqs_endpoint_url=platform.env["SQS_ENDPOINT_URL"],
        aws_region=platform.env["AWS_REGION"],
        aws_access_key_id=platform.env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=platform.env["AWS_SECRET_ACCESS_KEY"],
        jobs_queue=platform.env["INGEST_JOBS_QUEUE"],
        dead_letter_queue=platform.env["INGEST_DEAD_LETTER_QUEUE"],
    )
    stack = AsyncExitStack()
    sqs = await open_sqs(stack, settings)
    return stack, sqs, settings


@pytest.mark.parametrize("loss", ["purged", "deleted"])
async def test_a_job_whose_message_vanished_is_sent_again(
    loss: str, faults: RunningPlatform, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    path = tmp_path / "small.tar"
    truth = write_export(path, 500, seed=4)
    user = await register_skype_user(client, "lost")
    the_worker(faults).stop()  # nobody consumes while the queue loses the message
    response = await upload(client, user, path.read_bytes(), params={"async": "true"})
    task_id = response.json()["task_id"]
    stack, sqs, settings = await sqs_of(faults)
    async with stack:
        url = (await sqs.get_queue_url(QueueName=settings.jobs_queue))["QueueUrl"]

        async def queued() -> int:
            attributes = await sqs.get_queue_attributes(
                QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
            )
            return int(attributes["Attributes"]["ApproximateNumberOfMessages"])

        deadline = time.monotonic() + 30
        while await queued() == 0:  # the relay sent it
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)
        if loss == "purged":
            await sqs.purge_queue(QueueUrl=url)
        else:  # what a restarted moto does: the queues are gone
            dead = (await sqs.get_queue_url(QueueName=settings.dead_letter_queue))["QueueUrl"]
            await sqs.delete_queue(QueueUrl=url)
            await sqs.delete_queue(QueueUrl=dead)
    replace_worker(faults, f"worker-after-{loss}")
    final = await wait_status(
        client, user, task_id, lambda s: s["status"] in ("completed", "failed"), timeout=120
    )
    assert final["status"] == "completed", final
    assert final["export_id"]
    analysis = (
        await client.get(f"/api/analysis/{final['export_id']}", headers=user.headers)
    ).json()
    assert analysis["message_count"] == truth.message_count


async def test_the_sync_threshold_and_the_hard_maximum(
    faults: RunningPlatform, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    user = await register_skype_user(client, "sizes")
    small = tmp_path / "small.json"
    write_export(small, 300, seed=2, bare=True)
    assert small.stat().st_size <= SYNC_MAX
    sync = await upload(client, user, small.read_bytes())
    assert sync.json()["success"] is True
    large = tmp_path / "large.json"
    write_export(large, 4000, seed=2, bare=True)
    assert SYNC_MAX < large.stat().st_size < HARD_MAX
    asynchronous = await upload(client, user, large.read_bytes())
    assert set(asynchronous.json()) == {"task_id"}

    # Above the hard maximum: 413 from ingest while the body streams (no length known).
    def body() -> Iterator[bytes]:
        yield (
            b'--b0undary\r\nContent-Disposition: form-data; name="file"; filename="m.json"\r\n\r\n{'
        )
        piece = b" " * (1 << 20)
        for _ in range(HARD_MAX // len(piece) + 8):
            yield piece
        yield b"}\r\n--b0undary--\r\n"

    def post() -> httpx.Response:
        with httpx.Client(base_url=faults.gateway_url, timeout=120) as sync_client:
            return sync_client.post(
                "/api/upload",
                headers={**user.headers, "Content-Type": "multipart/form-data; boundary=b0undary"},
                content=body(),
            )

    try:
        refused = await asyncio.to_thread(post)
    except httpx.HTTPError:
        pytest.fail("the upload was cut without an answer")
    assert refused.status_code == 413
    assert "maximum upload size" in refused.json()["error"]
    # Nothing of it is listed or processing.
    exports = (await client.get("/api/exports", headers=user.headers)).json()
    assert len(exports) == 2


async def test_job_waits_and_server_sent_events(
    faults: RunningPlatform, client: httpx.AsyncClient, slow_export: tuple[Path, int]
) -> None:
    path, messages = slow_export
    user = await register_skype_user(client, "events")
    response = await upload(client, user, path.read_bytes(), params={"async": "true"})
    task_id = response.json()["task_id"]
    events: list[tuple[str, dict[str, Any]]] = []
    async with client.stream("GET", f"/jobs/{task_id}/events", headers=user.headers) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        name = ""
        async for line in stream.aiter_lines():
            if line.startswith("event: "):
                name = line[len("event: ") :]
            elif line.startswith("data: "):
                events.append((name, json.loads(line[len("data: ") :])))
    kinds = [name for name, _ in events]
    assert kinds[-1] == "completed", kinds
    assert set(kinds[:-1]) <= {"progress"}
    progress = [data["progress"] for name, data in events if name == "progress"]
    assert any(0 < p < 100 for p in progress), progress
    assert events[-1][1]["result"]["message_count"] == messages
    # Prefer: wait on a finished job answers at once; on another tenant's, 404.
    waited = await client.get(f"/jobs/{task_id}", headers={**user.headers, "Prefer": "wait=30"})
    assert waited.json()["status"] == "completed"
    other = await register_skype_user(client, "nosy")
    assert (await client.get(f"/jobs/{task_id}", headers=other.headers)).status_code == 404


async def test_prefer_wait_returns_when_the_job_ends(
    faults: RunningPlatform, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    path = tmp_path / "wait.json"
    write_export(path, 3000, seed=9, bare=True)
    user = await register_skype_user(client, "wait")
    task_id = (await upload(client, user, path.read_bytes(), params={"async": "true"})).json()[
        "task_id"
    ]
    waited = await client.get(
        f"/jobs/{task_id}", headers={**user.headers, "Prefer": "wait=90"}, timeout=120
    )
    assert waited.status_code == 200
    assert waited.json()["status"] == "completed", waited.json()
    assert waited.headers.get("preference-applied") == "wait=90"
    # A short wait on a job that cannot finish (no worker) answers its current state.
    the_worker(faults).stop()
    pending = (await upload(client, user, path.read_bytes(), params={"async": "true"})).json()
    short = await client.get(
        f"/jobs/{pending['task_id']}", headers={**user.headers, "Prefer": "wait=1"}
    )
    assert short.json()["status"] == "pending"
    replace_worker(faults, "worker-after-wait")


async def test_the_object_store_away_during_an_upload_is_a_503_and_stores_nothing(
    faults: RunningPlatform, client: httpx.AsyncClient, store_link: CuttableLink, tmp_path: Path
) -> None:
    path = tmp_path / "store-down.tar"
    truth = write_export(path, 300, seed=31)
    user = await register_skype_user(client, "store-down")
    store_link.cut()
    try:
        refused = await upload(client, user, path.read_bytes())
    finally:
        store_link.restore()
    assert refused.status_code == 503, refused.text
    assert "object storage is temporarily unavailable" in refused.json()["error"]
    assert refused.headers["retry-after"].isdigit()
    assert (await client.get("/api/exports", headers=user.headers)).json() == []
    # Back: the same upload goes through.
    again = await upload(client, user, path.read_bytes())
    assert again.status_code == 200, again.text
    assert again.json()["message_count"] == truth.message_count


async def test_the_object_store_away_for_the_worker_delays_the_job_then_it_completes(
    faults: RunningPlatform, client: httpx.AsyncClient, store_link: CuttableLink, tmp_path: Path
) -> None:
    """The store stays away longer than the message's two receives would last
    (2 x the visibility timeout): the worker waits for it instead of spending them."""
    path = tmp_path / "store-later.tar"
    truth = write_export(path, 500, seed=32)
    user = await register_skype_user(client, "store-later")
    the_worker(faults).stop()
    task_id = (await upload(client, user, path.read_bytes(), params={"async": "true"})).json()[
        "task_id"
    ]
    store_link.cut()
    try:
        replace_worker(faults, "worker-store-down")
        waiting = await wait_status(
            client,
            user,
            task_id,
            lambda s: (
                "waiting for it" in (s.get("message") or "")
                or s["status"] in ("completed", "failed")
            ),
            timeout=90,
        )
        await asyncio.sleep(2 * VISIBILITY + 3)
        still = await status_of(client, user, task_id)
    finally:
        store_link.restore()
    assert waiting["status"] == "pending", waiting
    assert "the object store is unreachable" in waiting["message"], waiting
    assert still["status"] in ("pending", "running"), still
    final = await wait_status(
        client, user, task_id, lambda s: s["status"] in ("completed", "failed"), timeout=120
    )
    assert final["status"] == "completed", final
    analysis = (
        await client.get(f"/api/analysis/{final['export_id']}", headers=user.headers)
    ).json()
    assert analysis["message_count"] == truth.message_count


async def test_the_database_away_mid_job_is_a_503_then_the_job_completes_once(
    faults: RunningPlatform,
    client: httpx.AsyncClient,
    database_link: CuttableLink,
    slow_export: tuple[Path, int],
    fault_database: str,
) -> None:
    path, messages = slow_export
    user = await register_skype_user(client, "db-down")
    task_id = (await upload(client, user, path.read_bytes(), params={"async": "true"})).json()[
        "task_id"
    ]
    await wait_status(client, user, task_id, lambda s: s["progress"] >= 20)
    database_link.cut()
    try:
        await asyncio.sleep(0.5)
        during = await client.get("/api/exports", headers=user.headers)
        await asyncio.sleep(2)
    finally:
        database_link.restore()
    assert during.status_code == 503, during.text
    assert "temporarily unavailable" in during.json()["error"], during.text
    final = await wait_status(
        client, user, task_id, lambda s: s["status"] in ("completed", "failed"), timeout=180
    )
    assert final["status"] == "completed", final
    export_id = final["export_id"]
    assert await stored_rows(fault_database, export_id) == (messages, messages)
    exports = (await client.get("/api/exports", headers=user.headers)).json()
    assert [e["message_count"] for e in exports if e["export_id"] == export_id] == [messages]


# Last: it stops analysis for the rest of the module.
async def test_a_message_that_keeps_failing_ends_in_the_dead_letter_queue(
    faults: RunningPlatform, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    path = tmp_path / "poison.tar"
    write_export(path, 300, seed=8)
    user = await register_skype_user(client, "poison")
    faults.processes["analysis"].stop()  # every attempt fails to reach analysis
    response = await upload(client, user, path.read_bytes(), params={"async": "true"})
    task_id = response.json()["task_id"]
    final = await wait_status(
        client, user, task_id, lambda s: s["status"] in ("completed", "failed"), timeout=120
    )
    assert final["status"] == "failed", final
    assert final["error"].startswith("Processing failed 2 times"), final
    assert "analysis" in final["error"], final
    stack, sqs, settings = await sqs_of(faults)
    async with stack:
        dead = (await sqs.get_queue_url(QueueName=settings.dead_letter_queue))["QueueUrl"]
        attributes = await sqs.get_queue_attributes(
            QueueUrl=dead,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )
        values = attributes["Attributes"]
        assert (
            int(values["ApproximateNumberOfMessages"])
            + int(values["ApproximateNumberOfMessagesNotVisible"])
            >= 1
        )

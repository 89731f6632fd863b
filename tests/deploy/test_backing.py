"""The backing servers are real: PostgreSQL run by an unprivileged account, Redis,
S3 and SQS over HTTP (moto) through the same aioboto3 calls as production."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import aioboto3
import asyncpg
import pytest
from redis.asyncio import Redis

from deploy.backing import BackingServices, start_backing
from deploy.ports import accepts_connections


def plain_url(database_url: str) -> str:
    return database_url.replace("postgresql+asyncpg://", "postgresql://", 1)


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/")[0])


def process_uid(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError(f"no Uid line for {pid}")


async def test_postgres_answers_and_runs_unprivileged(backing: BackingServices) -> None:
    conn = await asyncpg.connect(plain_url(backing.database_url))
    try:
        row = await conn.fetchrow(
            "SELECT current_database() AS db, current_user AS usr, pg_backend_pid() AS pid"
        )
        assert row is not None
        assert row["db"] == "quarry"
        assert row["usr"] == "postgres"
        assert await conn.fetchval("SELECT 40 + 2") == 42
        server_uid = process_uid(row["pid"])
    finally:
        await conn.close()
    if os.geteuid() == 0:  # PostgreSQL refuses root: it must run as nobody
        assert server_uid == 65534
    else:
        assert server_uid == os.geteuid()


async def test_redis_answers_ping(backing: BackingServices) -> None:
    redis = Redis.from_url(backing.redis_url)
    try:
        assert await redis.ping() is True
        key = f"test:{uuid.uuid4().hex}"
        await redis.set(key, "value", ex=10)
        assert await redis.get(key) == b"value"
    finally:
        await redis.aclose()


async def test_s3_put_and_get(backing: BackingServices) -> None:
    session = aioboto3.Session()
    bucket = f"test-{uuid.uuid4().hex[:12]}"
    async with session.client(
        "s3",
        endpoint_url=backing.s3_endpoint_url,
        region_name=backing.aws_region,
        aws_access_key_id=backing.aws_access_key_id,
        aws_secret_access_key=backing.aws_secret_access_key,
    ) as s3:
        await s3.create_bucket(Bucket=bucket)
        await s3.put_object(Bucket=bucket, Key="a/b.txt", Body=b"hello quarry")
        response = await s3.get_object(Bucket=bucket, Key="a/b.txt")
        async with response["Body"] as body:
            assert await body.read() == b"hello quarry"


async def test_sqs_send_and_receive(backing: BackingServices) -> None:
    session = aioboto3.Session()
    async with session.client(
        "sqs",
        endpoint_url=backing.sqs_endpoint_url,
        region_name=backing.aws_region,
        aws_access_key_id=backing.aws_access_key_id,
        aws_secret_access_key=backing.aws_secret_access_key,
    ) as sqs:
        url = (await sqs.create_queue(QueueName=f"test-{uuid.uuid4().hex[:12]}"))["QueueUrl"]
        await sqs.send_message(QueueUrl=url, MessageBody='{"type": "ping"}')
        received = await sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2)
        assert [m["Body"] for m in received["Messages"]] == ['{"type": "ping"}']


def test_configured_urls_are_used_and_nothing_is_started(
    backing: BackingServices, tmp_path: Path
) -> None:
    configured = backing.env() | {"AWS_REGION": "eu-west-1"}
    with start_backing(tmp_path, persistent=False, configured=configured) as reused:
        assert reused.started == ()
        assert reused.env() == configured


def test_stopping_leaves_nothing_running(tmp_path: Path) -> None:
    with start_backing(tmp_path, persistent=False) as services:
        ports = [
            port_of(services.database_url),
            port_of(services.redis_url),
            port_of(services.s3_endpoint_url),
        ]
        assert all(accepts_connections("127.0.0.1", port) for port in ports)
    assert not any(accepts_connections("127.0.0.1", port) for port in ports)
    for port in ports:
        leftovers = subprocess.run(
            ["pgrep", "-f", f"{port}"], capture_output=True, text=True, check=False
        )
        assert leftovers.stdout == "", f"a process still mentions port {port}"


def test_two_runs_side_by_side_do_not_collide(backing: BackingServices, tmp_path: Path) -> None:
    with start_backing(tmp_path, persistent=False) as second:
        assert second.database_url != backing.database_url
        assert second.redis_url != backing.redis_url
        assert second.s3_endpoint_url != backing.s3_endpoint_url


@pytest.fixture
def reachable_dir() -> Iterator[Path]:
    """A data dir PostgreSQL's account can reach (pytest's own base dir is closed to
    other users: a root test run's server runs as nobody)."""
    path = Path(tempfile.mkdtemp(prefix="quarry-test-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


async def stored_objects(services: BackingServices, put: str) -> list[str]:
    """Put an object named ``put`` (creating the bucket once) and list the bucket."""
    async with aioboto3.Session().client(
        "s3",
        endpoint_url=services.s3_endpoint_url,
        region_name=services.aws_region,
        aws_access_key_id=services.aws_access_key_id,
        aws_secret_access_key=services.aws_secret_access_key,
    ) as s3:
        if put == "first":
            await s3.create_bucket(Bucket="kept")
        await s3.put_object(Bucket="kept", Key=put, Body=put.encode())
        listed = await s3.list_objects_v2(Bucket="kept")
        return sorted(o["Key"] for o in listed["Contents"])


async def test_persistent_data_survives_a_restart(reachable_dir: Path) -> None:
    counts = []
    objects = []
    for run in ("first", "second"):
        with start_backing(reachable_dir, persistent=True) as services:
            objects.append(await stored_objects(services, run))
            conn = await asyncpg.connect(plain_url(services.database_url))
            try:
                await conn.execute("CREATE TABLE IF NOT EXISTS kept (v text)")
                await conn.execute("INSERT INTO kept VALUES ('x')")
                counts.append(await conn.fetchval("SELECT count(*) FROM kept"))
            finally:
                await conn.close()
            redis = Redis.from_url(services.redis_url)
            try:
                counts.append(await redis.incr("kept"))
            finally:
                await redis.aclose()
    assert counts == [1, 1, 2, 2]
    assert objects == [["first"], ["first", "second"]]
    assert (reachable_dir / "postgres" / "PG_VERSION").is_file()
    assert (reachable_dir / "redis" / "appendonly.aof").exists()

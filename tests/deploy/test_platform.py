"""The whole platform, as the session fixture started it (the code of `make up`)."""

from __future__ import annotations

import json
import re
import stat
import subprocess
from pathlib import Path

import aioboto3
import asyncpg
import httpx
from redis.asyncio import Redis

from deploy.backing import BackingServices
from deploy.platform import RunningPlatform
from deploy.topology import PROCESSES, SERVICES, Role
from shared.heartbeat import WORKER_HEARTBEAT_KEY


def environment_of(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    pairs = (item.decode(errors="replace").partition("=") for item in raw.split(b"\0") if item)
    return {name: value for name, _, value in pairs}


async def test_every_service_answers_health_200(platform: RunningPlatform) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        for service in SERVICES:
            response = await client.get(f"{platform.service_urls[service.name]}/health")
            assert response.status_code == 200, (service.name, response.text)
            assert response.json()["status"] == "healthy"
            assert response.json()["service"] == service.name


async def test_gateway_answers_health_200(platform: RunningPlatform) -> None:
    async with httpx.AsyncClient(base_url=platform.gateway_url, timeout=10) as client:
        response = await client.get("/api/health")
    assert response.status_code == 200, response.text


async def test_each_schema_keeps_its_own_alembic_version_table(platform: RunningPlatform) -> None:
    url = platform.env["DATABASE_URL"].replace("postgresql+asyncpg://", "postgresql://", 1)
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT table_schema FROM information_schema.tables "
            "WHERE table_name = 'alembic_version'"
        )
    finally:
        await conn.close()
    assert sorted(r["table_schema"] for r in rows) == sorted(s.name for s in SERVICES)


async def test_worker_beats_and_declared_its_queues(platform: RunningPlatform) -> None:
    redis = Redis.from_url(platform.env["REDIS_URL"])
    try:
        assert await redis.exists(WORKER_HEARTBEAT_KEY)
        assert 0 < await redis.ttl(WORKER_HEARTBEAT_KEY) <= 15
    finally:
        await redis.aclose()
    env = platform.env
    async with aioboto3.Session().client(
        "sqs",
        endpoint_url=env["SQS_ENDPOINT_URL"],
        region_name=env["AWS_REGION"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    ) as sqs:
        jobs = (await sqs.get_queue_url(QueueName="quarry-jobs"))["QueueUrl"]
        dead = (await sqs.get_queue_url(QueueName="quarry-jobs-dead-letter"))["QueueUrl"]
        dead_arn = (await sqs.get_queue_attributes(QueueUrl=dead, AttributeNames=["QueueArn"]))[
            "Attributes"
        ]["QueueArn"]
        attributes = await sqs.get_queue_attributes(QueueUrl=jobs, AttributeNames=["All"])
    redrive = json.loads(attributes["Attributes"]["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"] == dead_arn
    assert int(redrive["maxReceiveCount"]) == 5


def test_processes_get_exactly_their_variables(platform: RunningPlatform) -> None:
    for spec in PROCESSES:
        if spec.role is Role.MIGRATE:
            continue
        env = environment_of(platform.processes[spec.name].pid)
        assert spec.env_names <= env.keys(), spec.name
        if spec.role is Role.WORKER:  # the parse worker holds no database credentials
            assert not any(name.endswith("DATABASE_URL") for name in env), env.keys()


def test_development_secrets_are_private_and_kept(platform: RunningPlatform) -> None:
    secrets_file = platform.data_dir / "secrets.env"
    assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
    text = secrets_file.read_text()
    assert f"QUARRY_INTERNAL_TOKEN={platform.env['QUARRY_INTERNAL_TOKEN']}" in text
    assert platform.dev_api_key == platform.env["API_KEY"]
    assert platform.admin_username == "admin"


async def test_gateway_client_comes_from_its_own_address(
    gateway_client: httpx.AsyncClient, unique: str
) -> None:
    forwarded = gateway_client.headers["X-Forwarded-For"]
    assert forwarded.startswith("10.")
    assert len(unique) == 8
    response = await gateway_client.get("/api/health")
    assert response.status_code == 200


def listening_sockets() -> list[tuple[int, str]]:
    """(pid, local address) of every listening TCP socket on the machine."""
    output = subprocess.run(
        ["ss", "-Hltnp"], capture_output=True, text=True, check=True, timeout=30
    ).stdout
    found = []
    for line in output.splitlines():
        fields = line.split()
        for pid in re.findall(r"pid=(\d+)", line):
            found.append((int(pid), fields[3]))
    return found


def test_every_process_listens_on_loopback_only(
    platform: RunningPlatform, backing: BackingServices
) -> None:
    ours = {p.pid: name for name, p in platform.processes.items()}
    ours |= {s.process.pid: name for name, s in backing.servers.items()}
    seen = {ours[pid]: address for pid, address in listening_sockets() if pid in ours}
    assert set(seen) >= {*(s.name for s in SERVICES), "gateway", "postgres", "redis", "s3", "moto"}
    for pid, address in listening_sockets():
        if pid in ours:
            assert address.startswith(("127.0.0.1:", "[::1]:")), (ours[pid], address)

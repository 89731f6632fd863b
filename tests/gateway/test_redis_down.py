"""When Redis goes away the gateway stays up: everyday routes fail open, the
brute-force and cost guards fail closed with 503, answers stay fast, the
monitoring page says so, and everything recovers when Redis returns."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploy.ports import free_port
from deploy.redis_server import find_redis_server, ping
from tests.gateway.conftest import StartGateway
from tests.gateway.support import KeyRing


class RedisProcess:
    """A redis-server on a fixed port that a test may stop, freeze and restart."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                str(find_redis_server()),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not ping(self.port):
            assert time.monotonic() < deadline, "redis did not start"
            time.sleep(0.02)

    def stop(self) -> None:
        if self.process is not None:
            if self.process.poll() is None:
                os.kill(self.process.pid, signal.SIGCONT)
            self.process.terminate()
            self.process.wait(10)
            self.process = None

    def freeze(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGCONT)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisProcess]:
    redis = RedisProcess(tmp_path)
    redis.start()
    yield redis
    redis.stop()


async def test_redis_down_fails_open_for_api_and_closed_for_auth(
    start_gateway: StartGateway, own_redis: RedisProcess, keyring: KeyRing
) -> None:
    gateway = await start_gateway(
        redis_url=own_redis.url, rate_limit_api="50/60", rate_limit_breaker_seconds=0.5
    )
    headers = {"Authorization": f"Bearer {keyring.mint()}"}
    async with gateway.client() as client:
        assert (await client.get("/sessions", headers=headers)).status_code == 200
        own_redis.stop()

        started = time.monotonic()
        api = await client.get("/sessions", headers=headers)
        assert api.status_code == 200
        assert api.headers["x-ratelimit-limit"] == "50"
        login = await client.post("/auth/login", json={})
        assert login.status_code == 503
        assert login.json()["code"] == "service_unavailable"
        assert "retry-after" in login.headers
        export = await client.post("/client/export/chats", headers=headers, json={})
        assert export.status_code == 503
        assert export.json()["error_code"] == "service_unavailable"
        assert time.monotonic() - started < 3

        detailed = (await client.get("/monitoring/detailed")).json()
        assert detailed["status"] == "degraded"
        assert detailed["components"]["redis"]["status"] == "unhealthy"
        assert detailed["components"]["rate_limiter"]["status"] == "degraded"
        assert detailed["components"]["rate_limiter"]["redis_available"] is False
        assert (await client.get("/healthcheck")).status_code == 200

        own_redis.start()  # same port: the gateway finds it again by itself
        deadline = time.monotonic() + 10
        while True:
            login = await client.post("/auth/login", json={})
            if login.status_code == 200 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        assert login.status_code == 200
        detailed = (await client.get("/monitoring/detailed")).json()
        assert detailed["components"]["rate_limiter"]["status"] == "healthy"


async def test_a_frozen_redis_costs_bounded_time(
    start_gateway: StartGateway, own_redis: RedisProcess, keyring: KeyRing
) -> None:
    gateway = await start_gateway(
        redis_url=own_redis.url,
        rate_limit_redis_timeout_seconds=0.3,
        rate_limit_breaker_seconds=5,
        health_timeout_seconds=0.5,
    )
    headers = {"Authorization": f"Bearer {keyring.mint()}"}
    async with gateway.client() as client:
        assert (await client.get("/sessions", headers=headers)).status_code == 200
        own_redis.freeze()
        try:
            started = time.monotonic()
            first = await client.get("/sessions", headers=headers)
            first_elapsed = time.monotonic() - started
            started = time.monotonic()
            for _ in range(10):
                assert (await client.get("/sessions", headers=headers)).status_code == 200
            rest_elapsed = time.monotonic() - started
            health = await client.get("/api/health")
        finally:
            own_redis.thaw()
    assert first.status_code == 200
    assert first_elapsed < 1.5
    # The breaker is open: the next requests do not wait for Redis at all
    # (without it, ten requests would wait 10 x 0.3 s; the margin absorbs a loaded CI).
    assert rest_elapsed < 2.0
    assert health.status_code == 503
    assert health.json()["components"]["redis"]["status"] == "unhealthy"

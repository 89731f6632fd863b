"""Bodies stream through the gateway: hundreds of megabytes up and down while the
gateway process (``python -m gateway serve``, measured from outside) stays small."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import psutil
import pytest

from deploy.ports import free_port
from tests.gateway.conftest import Upstreams
from tests.gateway.support import INTERNAL_TOKEN, KeyRing

ROOT = Path(__file__).resolve().parents[2]
MIB = 1024 * 1024
BODY = 256 * MIB
ALLOWED_GROWTH = 64 * MIB


@pytest.fixture
async def gateway_process(
    redis_url: str, upstreams: Upstreams, tmp_path: Path
) -> AsyncIterator[tuple[str, psutil.Process]]:
    """The real command, so its memory is its own (the stand-in services run in this
    process's event loop, which must keep turning while the gateway starts)."""
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "QUARRY_ENV": "test",
        "QUARRY_PORT": str(port),
        "REDIS_URL": redis_url,
        "QUARRY_INTERNAL_TOKEN": INTERNAL_TOKEN,
        "AUTH_INTERNAL_URL": upstreams.url("auth"),
        "INGEST_INTERNAL_URL": upstreams.url("ingest"),
        "ANALYSIS_INTERNAL_URL": upstreams.url("analysis"),
        "PROFILE_INTERNAL_URL": upstreams.url("profile"),
        "GATEWAY_RATE_LIMIT_API": "100000/60",
        "GATEWAY_RATE_LIMIT_SYSTEM": "100000/60",
    }
    log = (tmp_path / "gateway.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway", "serve"], cwd=ROOT, env=env, stdout=log, stderr=log
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        async with httpx.AsyncClient(timeout=1) as probe:
            while True:
                try:
                    if (await probe.get(f"{url}/healthcheck")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert process.poll() is None, (tmp_path / "gateway.log").read_text()
                assert time.monotonic() < deadline, "gateway did not start"
                await asyncio.sleep(0.05)
        yield url, psutil.Process(process.pid)
    finally:
        process.terminate()
        process.wait(15)
        log.close()


class PeakMemory:
    """Samples a process's resident memory while a transfer runs."""

    def __init__(self, process: psutil.Process) -> None:
        self.process = process
        self.baseline = process.memory_info().rss
        self.peak = self.baseline
        self._task: asyncio.Task[None] | None = None

    async def _sample(self) -> None:
        while True:
            self.peak = max(self.peak, self.process.memory_info().rss)
            await asyncio.sleep(0.01)

    async def __aenter__(self) -> PeakMemory:
        self._task = asyncio.create_task(self._sample())
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._task is not None
        self._task.cancel()
        self.peak = max(self.peak, self.process.memory_info().rss)

    @property
    def growth(self) -> int:
        return self.peak - self.baseline


@pytest.mark.slow
async def test_large_upload_streams_with_bounded_gateway_memory(
    gateway_process: tuple[str, psutil.Process], keyring: KeyRing, upstreams: Upstreams
) -> None:
    url, process = gateway_process
    headers = {"Authorization": f"Bearer {keyring.mint()}"}
    chunk = os.urandom(MIB)

    async def body() -> AsyncIterator[bytes]:
        for _ in range(BODY // MIB):
            yield chunk

    async with httpx.AsyncClient(base_url=url, timeout=120) as client:
        await client.get("/sessions", headers=headers)  # warm the pool and the caches
        async with PeakMemory(process) as memory:
            response = await client.post(
                "/api/upload",
                headers={**headers, "Content-Length": str(BODY)},
                content=body(),
            )
    assert response.status_code == 200, response.text
    assert response.json()["body_bytes"] == BODY
    assert memory.growth < ALLOWED_GROWTH, f"gateway grew by {memory.growth / MIB:.1f} MiB"


@pytest.mark.slow
async def test_large_download_streams_with_bounded_gateway_memory(
    gateway_process: tuple[str, psutil.Process], keyring: KeyRing
) -> None:
    url, process = gateway_process
    headers = {"Authorization": f"Bearer {keyring.mint()}"}
    received = 0
    async with httpx.AsyncClient(base_url=url, timeout=120) as client:
        await client.get("/api/exports", headers=headers)
        async with (
            PeakMemory(process) as memory,
            client.stream(
                "GET", "/api/report/big-download", params={"size": BODY}, headers=headers
            ) as response,
        ):
            assert response.status_code == 200
            async for part in response.aiter_raw():
                received += len(part)
    assert received == BODY
    assert memory.growth < ALLOWED_GROWTH, f"gateway grew by {memory.growth / MIB:.1f} MiB"


@pytest.mark.slow
async def test_oversized_streamed_upload_is_refused_early(
    gateway_process: tuple[str, psutil.Process], keyring: KeyRing
) -> None:
    url, _ = gateway_process
    headers = {"Authorization": f"Bearer {keyring.mint()}"}
    sent = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal sent
        chunk = b"z" * MIB
        for _ in range(200):  # 200 MiB, no Content-Length; /files/upload allows 50 MB
            sent += len(chunk)
            yield chunk

    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        try:
            response = await client.post("/files/upload", headers=headers, content=body())
        except httpx.HTTPError:
            response = None  # refused mid-body: the gateway closed the connection
    if response is not None:
        assert response.status_code == 413
    # The gateway stopped reading soon after the limit instead of draining 200 MiB.
    assert sent < 100 * MIB

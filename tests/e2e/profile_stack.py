"""A profile deployment of the tests' own, beside the session platform: N profile
replicas (``python -m services.profile serve``, as the launcher starts them) and one
gateway per replica (``python -m gateway serve``), on the session's PostgreSQL (a
database of their own, migrated by ``python -m services.profile migrate``), Redis (a
namespace of their own) and the platform's auth service, with the fake TikTok
(tests/services/profile/fakes.py) as sign server, push WebSocket, web pages and CDN.

So the live tests run the real TikTokLive adapter through the real gateway, across
several replicas, with settings small enough to test (queues, watchdog, cooldown).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import secrets
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from deploy.platform import RunningPlatform
from deploy.ports import free_port
from deploy.processes import ManagedProcess, spawn, stop_all, wait_until
from shared.database import async_url
from tests.services.profile.fakes import FakeTikTok, generator_templates

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"


@dataclass
class ProfileStack:
    gateways: list[str]
    replicas: list[str]
    namespace: str
    database_url: str
    processes: list[ManagedProcess] = field(default_factory=list)

    @property
    def gateway(self) -> str:
        return self.gateways[0]

    def ws(self, index: int, session_id: str, key: str, query: str = "") -> str:
        base = self.gateways[index].replace("http", "ws", 1)
        extra = f"&{query}" if query else ""
        return f"{base}/ws/comments/{session_id}?api_key={key}{extra}"


def _create_database(admin_url: str) -> str:
    name = f"profile_stack_{uuid.uuid4().hex[:10]}"

    async def create() -> None:
        engine = create_async_engine(async_url(admin_url), isolation_level="AUTOCOMMIT")
        async with engine.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        await engine.dispose()

    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # its own loop, off the tests'
        pool.submit(asyncio.run, create()).result(60)
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


def _ready(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@contextlib.contextmanager
def start_profile_stack(
    platform: RunningPlatform,
    fake: FakeTikTok,
    logs: Path,
    *,
    replicas: int = 2,
    profile_env: dict[str, str] | None = None,
) -> Iterator[ProfileStack]:
    env = platform.env
    database_url = _create_database(env["DATABASE_URL"])
    namespace = f"e2e-profile-{secrets.token_hex(4)}"
    base = {
        "PATH": "/usr/bin:/bin",
        "PYTHONUNBUFFERED": "1",
        "QUARRY_ENV": "test",
        "LOG_LEVEL": "INFO",
        "REDIS_URL": env["REDIS_URL"],
        "QUARRY_INTERNAL_TOKEN": env["QUARRY_INTERNAL_TOKEN"],
        "QUARRY_WEBHOOK_SECRET": env.get("QUARRY_WEBHOOK_SECRET", "x" * 32),
        "AUTH_INTERNAL_URL": platform.service_urls["auth"],
        "INGEST_INTERNAL_URL": platform.service_urls["ingest"],
        "ANALYSIS_INTERNAL_URL": platform.service_urls["analysis"],
    }
    profile = {
        **base,
        "DATABASE_URL": database_url,
        "PROFILE_REDIS_NAMESPACE": namespace,
        "PROFILE_SCRAPER_URL_TEMPLATE": f"{fake.url}/@{{username}}",
        "PROFILE_GENERATOR_URL_TEMPLATES": json.dumps(generator_templates(fake, "adventurer")),
        "PROFILE_IMAGE_HOSTS": json.dumps([fake.host]),
        "PROFILE_SCRAPER_RETRY_BASE_SECONDS": "0.01",
        "PROFILE_LIVE_SOURCE": "tiktok",
        "PROFILE_TIKTOK_SIGN_URL": fake.url,
        "PROFILE_TIKTOK_APP_URL": fake.url,
        "PROFILE_TIKTOK_WEBCAST_URL": f"{fake.url}/webcast",
        "PROFILE_LIVE_CONNECT_TIMEOUT": "5",
        "PROFILE_LIVE_FAILURE_COOLDOWN_SECONDS": "30",
        "PROFILE_LIVE_SILENCE_SECONDS": "2",
        "PROFILE_LIVE_RECONNECT_BASE_SECONDS": "0.2",
        "PROFILE_LIVE_RECONNECT_MAX_SECONDS": "1",
        "PROFILE_LIVE_LEASE_SECONDS": "4",
        "PROFILE_LIVE_RECONCILE_SECONDS": "1",
        "PROFILE_LIVE_CONNECTS_PER_MINUTE": "1000",
        "PROFILE_LIVE_REPLAY_RATE": "50",
        "PROFILE_WS_QUEUE_SIZE": "2000",
        "PROFILE_WS_SEND_TIMEOUT": "2",
        "PROFILE_PRESENCE_SECONDS": "0.5",
        **(profile_env or {}),
    }
    migrate = subprocess.run(
        [sys.executable, "-m", "services.profile", "migrate"],
        cwd=ROOT,
        env=profile,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert migrate.returncode == 0, migrate.stderr
    stack = ProfileStack(gateways=[], replicas=[], namespace=namespace, database_url=database_url)
    try:
        for index in range(replicas):
            port = free_port(HOST)
            process = spawn(
                f"profile-{index}",
                [sys.executable, "-m", "services.profile", "serve"],
                log_path=logs / f"profile-{index}.log",
                env={**profile, "PROFILE_HOST": HOST, "PROFILE_PORT": str(port)},
                cwd=ROOT,
            )
            stack.processes.append(process)
            stack.replicas.append(f"http://{HOST}:{port}")
        for index, replica in enumerate(stack.replicas):
            wait_until(
                lambda r=replica: _ready(f"{r}/health"),
                what=f"profile-{index}",
                timeout=60,
                process=stack.processes[index],
            )
            port = free_port(HOST)
            gateway = spawn(
                f"gateway-{index}",
                [sys.executable, "-m", "gateway", "serve"],
                log_path=logs / f"gateway-{index}.log",
                env={
                    **base,
                    "PROFILE_INTERNAL_URL": replica,
                    "QUARRY_PORT": str(port),
                    "GATEWAY_HOST": HOST,
                    "GATEWAY_TRUSTED_PROXIES": json.dumps(["127.0.0.1/32"]),
                    "GATEWAY_RATE_LIMIT_CONNECT": "100000/60",
                    "GATEWAY_RATE_LIMIT_WEBSOCKET": "100000/60",
                    "GATEWAY_RATE_LIMIT_API": "100000/60",
                    "GATEWAY_RATE_LIMIT_STRICT": "100000/60",
                    "GATEWAY_REQUIRE_WORKER": "false",
                },
                cwd=ROOT,
            )
            stack.processes.append(gateway)
            url = f"http://{HOST}:{port}"
            wait_until(
                lambda u=url: _ready(f"{u}/healthcheck"),
                what=f"gateway-{index}",
                timeout=60,
                process=gateway,
            )
            stack.gateways.append(url)
        yield stack
    finally:
        stop_all(list(reversed(stack.processes)), 15)

"""Fixtures of the gateway's own tests: a real Redis, stand-in services on loopback
(real HTTP and WebSocket servers), and gateways started in-process under uvicorn
with the settings a test asks for."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from deploy.redis_server import run_redis
from gateway.app import Gateway, create_app
from gateway.settings import GatewaySettings
from tests.gateway.support import (
    AUDIENCE,
    INTERNAL_TOKEN,
    ISSUER,
    EchoService,
    FakeAuth,
    KeyRing,
    LoopbackServer,
)


@dataclass
class Upstreams:
    auth: FakeAuth
    ingest: EchoService
    analysis: EchoService
    profile: EchoService
    servers: dict[str, LoopbackServer]

    def url(self, name: str) -> str:
        return self.servers[name].url


@dataclass
class RunningGateway:
    app: Gateway
    server: LoopbackServer
    settings: GatewaySettings

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def ws_url(self) -> str:
        return self.server.url.replace("http://", "ws://")

    def client(self, ip: str | None = None, **kwargs: Any) -> httpx.AsyncClient:
        """A client the gateway sees as coming from ``ip`` (loopback is a trusted proxy)."""
        headers = {"X-Forwarded-For": ip or random_ip(), **kwargs.pop("headers", {})}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=30, **kwargs)


def random_ip() -> str:
    return f"10.{random.randint(0, 255)}.{random.randint(0, 255)}.{random.randint(1, 254)}"


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Redis server for the gateway's rate limits and revocations."""
    directory = tmp_path_factory.mktemp("gateway-redis")
    with run_redis(directory, log_path=directory / "redis.log", durable=False) as url:
        yield url


@pytest.fixture(scope="session")
def keyring() -> KeyRing:
    return KeyRing()


@pytest.fixture(scope="session")
async def upstreams(keyring: KeyRing) -> AsyncIterator[Upstreams]:
    services = {
        "auth": FakeAuth(keyring),
        "ingest": EchoService("ingest"),
        "analysis": EchoService("analysis"),
        "profile": EchoService("profile"),
    }
    servers = {name: await LoopbackServer(app).start() for name, app in services.items()}
    yield Upstreams(
        auth=services["auth"],  # type: ignore[arg-type]
        ingest=services["ingest"],
        analysis=services["analysis"],
        profile=services["profile"],
        servers=servers,
    )
    for server in servers.values():
        await server.stop()


def gateway_settings(redis: str, upstreams: Upstreams, **overrides: Any) -> GatewaySettings:
    values: dict[str, Any] = {
        "environment": "test",
        "redis_url": redis,
        "auth_internal_url": upstreams.url("auth"),
        "ingest_internal_url": upstreams.url("ingest"),
        "analysis_internal_url": upstreams.url("analysis"),
        "profile_internal_url": upstreams.url("profile"),
        "internal_token": INTERNAL_TOKEN,
        "jwt_issuer": ISSUER,
        "jwt_audience": AUDIENCE,
        "trusted_proxies": ["127.0.0.1/32", "::1/128"],
        "log_json": False,
        "upstream_timeout_seconds": 5.0,
        "health_cache_seconds": 0.0,
        "openapi_cache_seconds": 0.0,
    }
    for name in ("api", "auth", "connect", "strict", "websocket", "export_user", "system"):
        values[f"rate_limit_{name}"] = "100000/60"
    values["rate_limit_export_client"] = "100000/3600"
    values.update(overrides)
    return GatewaySettings(**values)


StartGateway = Callable[..., Awaitable[RunningGateway]]


@pytest.fixture
async def start_gateway(redis_url: str, upstreams: Upstreams) -> AsyncIterator[StartGateway]:
    """Start gateways with setting overrides; all stopped after the test."""
    running: list[LoopbackServer] = []

    async def start(**overrides: Any) -> RunningGateway:
        settings = gateway_settings(redis_url, upstreams, **overrides)
        app = create_app(settings)
        server = await LoopbackServer(app).start()
        running.append(server)
        return RunningGateway(app, server, settings)

    yield start
    for server in running:
        await server.stop()


@pytest.fixture
async def gateway(start_gateway: StartGateway) -> RunningGateway:
    """A gateway with generous rate limits in front of the stand-in services."""
    return await start_gateway()


@pytest.fixture
async def client(gateway: RunningGateway) -> AsyncIterator[httpx.AsyncClient]:
    async with gateway.client() as http:
        yield http

"""The auth service in-process (httpx.ASGITransport) on the session's real PostgreSQL
and Redis (the ``backing`` fixture of tests/conftest.py).

The app gets a database of its own on the backing server, migrated with its
Alembic environment, so these tests never touch the platform's ``auth`` schema.
Requests come from the loopback "gateway" with a random ``X-Forwarded-For``
per client, as the gateway would forward them.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from services.auth.app import create_app
from services.auth.models import SCHEMA
from services.auth.security import totp
from services.auth.service.runtime import AuthRuntime
from services.auth.settings import AuthSettings
from shared.database import async_url
from shared.migrations import upgrade
from shared.proof import proof_headers
from tests.support.redis_process import RedisProcess

MIGRATIONS = Path(__file__).resolve().parents[3] / "services" / "auth" / "migrations"
INTERNAL_TOKEN = "test-internal-token-" + "x" * 16
DEV_KEY = "dev-test-key-" + secrets.token_hex(8)
# What the gateway adds to every request it forwards (shared.proof): without it the
# service refuses its public routes.
GATEWAY_PROOF = proof_headers(INTERNAL_TOKEN)
ADMIN_PASSWORD = "Admin123!"
STRONG_PASSWORD = "Str0ng_Pass!"


async def _admin_sql(database_url: str, statement: str) -> None:
    engine = create_async_engine(async_url(database_url), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


@asynccontextmanager
async def fresh_database(server_url: str, revision: str = "head") -> AsyncIterator[str]:
    """A new database on the backing server, migrated to ``revision``; dropped on exit."""
    name = f"auth_test_{uuid.uuid4().hex[:12]}"
    await _admin_sql(server_url, f'CREATE DATABASE "{name}"')
    url = make_url(async_url(server_url)).set(database=name)
    rendered = url.render_as_string(hide_password=False)
    try:
        await asyncio.to_thread(upgrade, MIGRATIONS, rendered, SCHEMA, revision)
        yield rendered
    finally:
        await _admin_sql(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest_asyncio.fixture(scope="session")
async def auth_database_url(backing: Any) -> AsyncIterator[str]:
    """A fresh database for the in-process auth app, migrated to head."""
    async with fresh_database(backing.database_url) as url:
        yield url


def make_settings(database_url: str, redis_url: str, **overrides: Any) -> AuthSettings:
    values: dict[str, Any] = {
        "environment": "test",
        "log_json": False,
        "log_level": "WARNING",
        "database_url": database_url,
        "redis_url": redis_url,
        "internal_token": INTERNAL_TOKEN,
        "key_encryption_secret": "test-key-encryption-secret-0123456789",
        # Cheap argon2 for tests (bench/auth.py measures production parameters).
        "argon2_time_cost": 1,
        "argon2_memory_cost": 1024,
        "argon2_parallelism": 1,
        "login_max_failures_per_client_and_account": 5,
        "login_max_failures_per_ip": 12,
        "login_failure_window_seconds": 60,
        "login_max_failures_per_account": 20,
        "login_account_window_seconds": 60,
        "login_delay_after_failures": 8,
        "api_key": DEV_KEY,
        "bootstrap_admin_username": "root",
        "bootstrap_admin_email": "root@example.com",
        "bootstrap_admin_password": ADMIN_PASSWORD,
        # No background pruning under the tests' feet (test_housekeeping runs it explicitly).
        "prune_interval_seconds": 0,
    }
    values.update(overrides)
    return AuthSettings(**values)


@pytest.fixture(scope="session")
def auth_settings(auth_database_url: str, backing: Any) -> AuthSettings:
    return make_settings(auth_database_url, backing.redis_url)


@pytest_asyncio.fixture(scope="session")
async def auth_app(auth_settings: AuthSettings) -> AsyncIterator[FastAPI]:
    app = create_app(auth_settings)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture(scope="session")
def runtime(auth_app: FastAPI) -> AuthRuntime:
    rt: AuthRuntime = auth_app.state.auth
    return rt


def random_ip() -> str:
    return f"203.0.{secrets.randbelow(256)}.{secrets.randbelow(254) + 1}"


def asgi_client(app: FastAPI, ip: str | None = None, **kwargs: Any) -> httpx.AsyncClient:
    """A client as the gateway (a trusted proxy on loopback, with its proof) would connect."""
    headers = {
        "X-Forwarded-For": ip or random_ip(),
        **GATEWAY_PROOF,
        **kwargs.pop("headers", {}),
    }
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=("127.0.0.1", 40000)),
        base_url="http://auth.test",
        headers=headers,
        **kwargs,
    )


@pytest_asyncio.fixture
async def client(auth_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(auth_app) as c:
        yield c


@dataclass
class Account:
    username: str
    email: str
    password: str
    user_id: str = ""


def new_account(password: str = STRONG_PASSWORD) -> Account:
    name = f"u{uuid.uuid4().hex[:12]}"
    return Account(username=name, email=f"{name}@example.com", password=password)


class AuthDriver:
    """What the gateway does for a client, done by hand: introspect API keys and
    cookies into bearer tokens; plus shortcuts to set accounts up."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def introspect(self, kind: str, credential: str) -> dict[str, Any]:
        response = await self.client.post(
            "/internal/introspect",
            json={"kind": kind, "credential": credential},
            headers={"X-Internal-Token": INTERNAL_TOKEN},
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def bearer(self, kind: str, credential: str) -> dict[str, str]:
        answer = await self.introspect(kind, credential)
        assert answer["active"] is True, answer
        return {"Authorization": f"Bearer {answer['access_token']}"}

    async def register(self, account: Account | None = None) -> Account:
        account = account or new_account()
        response = await self.client.post(
            "/auth/register",
            json={
                "username": account.username,
                "email": account.email,
                "password": account.password,
            },
        )
        assert response.status_code == 201, response.text
        account.user_id = response.json()["user"]["id"]
        return account

    async def login(self, account: Account, **extra: Any) -> httpx.Response:
        return await self.client.post(
            "/auth/login",
            json={"username": account.username, "password": account.password, **extra},
        )

    async def token(self, account: Account, **extra: Any) -> dict[str, str]:
        response = await self.login(account, **extra)
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture
def driver(client: httpx.AsyncClient) -> AuthDriver:
    return AuthDriver(client)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisProcess]:
    redis = RedisProcess(tmp_path)
    redis.start()
    yield redis
    redis.kill()


@dataclass
class TotpClock:
    """The auth runtime's clock in TOTP tests: it stands still unless moved, so "the
    current code" means one step for the whole test (no waiting for a fresh step)."""

    now: float

    def __call__(self) -> float:
        return self.now

    def step(self) -> int:
        return totp.current_step(self.now)

    def code(self, secret: str, offset: int = 0) -> str:
        """The code of the current step + ``offset``."""
        return totp.code_for_step(secret, self.step() + offset)

    def advance(self, steps: int = 1) -> None:
        self.now += steps * totp.STEP_SECONDS


@pytest.fixture
def totp_clock(runtime: AuthRuntime, monkeypatch: pytest.MonkeyPatch) -> TotpClock:
    # One second into a step; any fixed instant would do.
    clock = TotpClock(now=(totp.current_step() + 1) * totp.STEP_SECONDS + 1.0)
    monkeypatch.setattr(runtime, "clock", clock)
    return clock

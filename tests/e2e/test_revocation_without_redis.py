"""Issue 8 §1 on the real platform: a revoked API key stops working at the gateway within
10 s while Redis is down (it was 287 s: the introspection cache time) and within 1 s
while Redis is up.

The session's Redis is shared by every other test, so this test starts a platform of
its own: the real auth (migrated into a fresh database on the session's PostgreSQL)
and the real gateway, both on a redis-server that the test kills (SIGKILL) and starts
again. The gateway's other services are the session platform's (only their health is
asked), and no worker is required. The delays measured are printed (``-s``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from deploy.backing import BackingServices
from deploy.platform import RunningPlatform, start_platform
from shared.database import async_url
from tests.support.redis_process import RedisProcess

PASSWORD = "Str0ng_Pass!"


async def _admin_sql(server_url: str, statement: str) -> None:
    engine = create_async_engine(async_url(server_url), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


@pytest.fixture
async def database(backing: BackingServices) -> AsyncIterator[str]:
    name = f"revocation_{uuid.uuid4().hex[:12]}"
    await _admin_sql(backing.database_url, f'CREATE DATABASE "{name}"')
    url = make_url(async_url(backing.database_url)).set(database=name)
    yield url.render_as_string(hide_password=False)
    await _admin_sql(backing.database_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisProcess]:
    redis = RedisProcess(tmp_path)
    redis.start()
    yield redis
    redis.stop()


@pytest.fixture
def small_platform(
    backing: BackingServices,
    platform: RunningPlatform,
    database: str,
    own_redis: RedisProcess,
    tmp_path: Path,
) -> Iterator[RunningPlatform]:
    # Auth connects with the superuser URL of its fresh database (no per-service role).
    mine = dataclasses.replace(
        backing, database_url=database, redis_url=own_redis.url, service_database_urls={}
    )
    others = {
        f"GATEWAY_{name.upper()}_INTERNAL_URL": platform.service_urls[name]
        for name in ("ingest", "analysis", "profile")
    }
    env = {
        "QUARRY_ENV": "test",
        "AUTH_ARGON2_TIME_COST": "1",
        "AUTH_ARGON2_MEMORY_COST": "8192",
        "AUTH_ARGON2_PARALLELISM": "1",
        "GATEWAY_TRUSTED_PROXIES": json.dumps(["127.0.0.1/32", "::1/128"]),
        "GATEWAY_REQUIRE_WORKER": "false",
        "GATEWAY_REVOCATION_POLL_SECONDS": "2",
        "AUTH_BOOTSTRAP_ADMIN_USERNAME": "admin",
        "AUTH_BOOTSTRAP_ADMIN_EMAIL": "admin@example.com",
        "AUTH_BOOTSTRAP_ADMIN_PASSWORD": secrets.token_urlsafe(18),
        **others,
    }
    with start_platform(
        tmp_path / "platform", mine, extra_env=env, only=("auth-migrate", "auth", "gateway")
    ) as running:
        yield running


async def _until(predicate: object, timeout: float) -> float | None:
    """Seconds until the async ``predicate`` holds, ``None`` if it did not within ``timeout``."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if await predicate():  # type: ignore[operator]
            return time.monotonic() - started
        await asyncio.sleep(0.05)
    return None


async def _new_key(client: httpx.AsyncClient, bearer: dict[str, str]) -> tuple[str, str]:
    async def generated() -> bool:
        nonlocal answer
        answer = await client.post(
            "/auth/api-keys/generate",
            headers=bearer,
            json={"name": f"k-{uuid.uuid4().hex[:6]}", "permissions": ["read"]},
        )
        return answer.status_code == 200

    answer: httpx.Response | None = None
    assert await _until(generated, 30) is not None, answer and answer.text
    assert answer is not None
    body = answer.json()
    return body["api_key"], body["key_info"]["id"]


async def _accepted(client: httpx.AsyncClient, key: str) -> bool:
    """Whether the gateway itself takes ``key``: /status is the gateway's own route
    (auth's routes would refuse a revoked key on their own, from auth's database)."""
    response = await client.get("/status", headers={"X-API-Key": key})
    assert response.status_code in (200, 401), response.text
    return response.status_code == 200


async def _revocation_delay(
    client: httpx.AsyncClient, bearer: dict[str, str], key: str, key_id: str, limit: float
) -> float | None:
    """Revoke ``key`` (already cached by the gateway) and time until the gateway refuses it."""
    assert await _accepted(client, key)
    revoked = await client.delete(f"/auth/api-keys/{key_id}", headers=bearer)
    assert revoked.status_code == 200, revoked.text

    async def refused() -> bool:
        return not await _accepted(client, key)

    return await _until(refused, limit)


async def test_a_revoked_key_stops_working_within_10_s_without_redis_and_1_s_with(
    small_platform: RunningPlatform, own_redis: RedisProcess, unique: str
) -> None:
    async with httpx.AsyncClient(
        base_url=small_platform.gateway_url,
        timeout=30,
        headers={"X-Forwarded-For": f"10.77.{secrets.randbelow(250)}.{secrets.randbelow(250) + 1}"},
    ) as client:
        account = {"username": f"rev{unique}", "email": f"rev{unique}@example.com"}
        registered = await client.post("/auth/register", json={**account, "password": PASSWORD})
        assert registered.status_code == 201, registered.text
        login = await client.post(
            "/auth/login", json={"username": account["username"], "password": PASSWORD}
        )
        bearer = {"Authorization": f"Bearer {login.json()['access_token']}"}

        # Redis up: pub/sub carries the revocation.
        key, key_id = await _new_key(client, bearer)
        with_redis = await _revocation_delay(client, bearer, key, key_id, limit=1.0)

        # Redis killed: the gateway polls auth's durable feed.
        key, key_id = await _new_key(client, bearer)
        assert await _accepted(client, key)  # introspected and cached before Redis goes
        own_redis.kill()

        async def feed_lost() -> bool:
            detailed = (await client.get("/monitoring/detailed")).json()
            return detailed["components"]["revocation_feed"]["connected"] is False

        assert await _until(feed_lost, 30) is not None
        without_redis = await _revocation_delay(client, bearer, key, key_id, limit=10.0)
        print(f"\nrevocation delay: Redis up {with_redis} s, Redis down {without_redis} s")
    assert with_redis is not None, "a revoked key still worked 1 s later with Redis up"
    assert without_redis is not None, "a revoked key still worked 10 s later with Redis down"

"""Revoking through the gateway while Redis is down (issue 8 §1), on a platform of this
module's own: its own database and a redis-server the test kills and restarts.

Every revoking call either happens and answers success or does not happen and answers
an error; a key revoked while Redis is down is refused, and the revocation reaches
Redis once it is back.
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from deploy.backing import BackingServices
from deploy.platform import RunningPlatform, start_platform
from shared.database import async_url
from shared.revocation import REVOKED_KEY
from tests.support.redis_process import RedisProcess

PASSWORD = "Str0ng_Pass!"


async def _admin(server_url: str, statement: str) -> None:
    engine = create_async_engine(async_url(server_url), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


@dataclasses.dataclass
class OwnPlatform:
    platform: RunningPlatform
    redis: RedisProcess


@pytest.fixture(scope="module")
def own_platform(
    backing: BackingServices,
    platform: RunningPlatform,
    platform_env: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[OwnPlatform]:
    """Auth and the gateway of this module's own (the tests call auth's routes only);
    the gateway's other services are the session platform's. No worker: one here would
    consume the session's job queue, and a worker stopped in the middle of a long poll
    leaves SQS a receive that swallows the next job message for the visibility timeout
    (the session's next dataset job waited for ingest's re-send, 120 s, in CI)."""
    redis = RedisProcess(tmp_path_factory.mktemp("redis"))
    redis.start()
    name = f"redis_down_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin(backing.database_url, f'CREATE DATABASE "{name}"'))
    database = make_url(backing.database_url).set(database=name)
    # Every service on that database (as the superuser: the per-service roles belong to
    # the session's database), so nothing of the session platform's data is touched.
    own = dataclasses.replace(
        backing,
        database_url=database.render_as_string(hide_password=False),
        redis_url=redis.url,
        service_database_urls={},
    )
    try:
        others = {
            f"GATEWAY_{name.upper()}_INTERNAL_URL": platform.service_urls[name]
            for name in ("ingest", "analysis", "profile")
        }
        env = {**platform_env, "GATEWAY_REQUIRE_WORKER": "false", **others}
        with start_platform(
            tmp_path_factory.mktemp("platform"),
            own,
            extra_env=env,
            only=("auth-migrate", "auth", "gateway"),
        ) as p:
            yield OwnPlatform(p, redis)
    finally:
        redis.kill()
        asyncio.run(_admin(backing.database_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def client(platform: RunningPlatform) -> httpx.AsyncClient:
    ip = f"10.{secrets.randbelow(256)}.{secrets.randbelow(256)}.{secrets.randbelow(254) + 1}"
    return httpx.AsyncClient(
        base_url=platform.gateway_url, timeout=30, headers={"X-Forwarded-For": ip}
    )


async def reaches_redis(url: str, handle: str, within: float = 30.0) -> bool:
    redis = Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    deadline = time.monotonic() + within
    try:
        while time.monotonic() < deadline:
            try:
                if await redis.zscore(REVOKED_KEY, handle) is not None:
                    return True
            except (ConnectionError, OSError):
                pass
            await asyncio.sleep(0.2)
        return False
    finally:
        await redis.aclose()


async def test_revoking_with_redis_down_is_all_or_nothing(own_platform: OwnPlatform) -> None:
    platform = own_platform.platform
    name = f"rd{uuid.uuid4().hex[:10]}"
    async with client(platform) as gw:
        registered = await gw.post(
            "/api/register",
            json={
                "username": name,
                "email": f"{name}@example.com",
                "password": PASSWORD,
                "display_name": "R",
            },
        )
        assert registered.status_code == 200, registered.text
        skype_key = registered.json()["api_key"]
        login = await gw.post("/auth/login", json={"username": name, "password": PASSWORD})
        assert login.status_code == 200, login.text
        bearer = {"Authorization": f"Bearer {login.json()['access_token']}"}
        created = await gw.post(
            "/auth/api-keys/generate", json={"name": "k", "permissions": ["read"]}, headers=bearer
        )
        assert created.status_code == 200, created.text
        pk, pk_id = created.json()["api_key"], created.json()["key_info"]["id"]

        # A second key, used once: the gateway caches its introspection.
        cached = await gw.post(
            "/auth/api-keys/generate", json={"name": "c", "permissions": ["read"]}, headers=bearer
        )
        cached_key, cached_id = cached.json()["api_key"], cached.json()["key_info"]["id"]
        assert (
            await gw.get("/auth/api-keys", headers={"X-API-Key": cached_key})
        ).status_code == 200

        own_platform.redis.kill()

        revoked = await gw.delete(f"/auth/api-keys/{pk_id}", headers=bearer)
        assert revoked.status_code == 200, revoked.text  # was 503, yet committed
        refused = await gw.get("/auth/api-keys", headers={"X-API-Key": pk})
        assert refused.status_code == 401, refused.text

        # The cached one stops working too: the gateway polls auth's feed while Redis is
        # down (the bound is 10 s; the loop allows 15 on a loaded machine).
        assert (await gw.delete(f"/auth/api-keys/{cached_id}", headers=bearer)).status_code == 200
        started = time.monotonic()
        while True:
            status = (await gw.get("/auth/api-keys", headers={"X-API-Key": cached_key})).status_code
            if status == 401:
                break
            assert status == 200
            assert time.monotonic() - started < 15, "a revoked, cached key still works"
            await asyncio.sleep(0.25)

        regenerated = await gw.post("/api/regenerate-api-key", headers={"X-API-Key": skype_key})
        if regenerated.status_code == 200:
            new_key = regenerated.json()["api_key"]
            assert (await gw.get("/api/profile", headers={"X-API-Key": new_key})).status_code == 200
        else:
            # Refused (the gateway fails closed on account routes without Redis): then
            # nothing happened, and the old key still works.
            assert regenerated.status_code >= 500, regenerated.text
            still = await gw.get("/api/profile", headers={"X-API-Key": skype_key})
            assert still.status_code == 200, still.text

    own_platform.redis.start()
    assert await reaches_redis(own_platform.redis.url, f"key:{pk_id}")

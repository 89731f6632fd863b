"""Revoking while Redis is down (issue 8 §1): the operation happens and answers success,
or does not happen and answers an error; never committed-then-503. A regenerated key
reaches its caller. The revocation is in ``/internal/revocations`` at once, and in
Redis (set + pub/sub) as soon as Redis is back.

Each test runs an auth app of its own on a fresh database and on a redis-server of its
own, which the test kills (SIGKILL) and starts again on the same port.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest_asyncio
from fastapi import FastAPI
from redis.asyncio import Redis

from services.auth.app import create_app
from shared.revocation import REVOKED_KEY
from tests.services.auth.conftest import (
    INTERNAL_TOKEN,
    AuthDriver,
    asgi_client,
    fresh_database,
    make_settings,
    new_account,
)
from tests.support.redis_process import RedisProcess

INTERNAL = {"X-Internal-Token": INTERNAL_TOKEN}


@dataclass
class Isolated:
    app: FastAPI
    client: httpx.AsyncClient
    driver: AuthDriver
    redis: RedisProcess


@pytest_asyncio.fixture
async def isolated(backing: Any, own_redis: RedisProcess) -> AsyncIterator[Isolated]:
    async with fresh_database(backing.database_url) as database_url:
        app = create_app(make_settings(database_url, own_redis.url))
        async with app.router.lifespan_context(app), asgi_client(app) as client:
            yield Isolated(app, client, AuthDriver(client), own_redis)


async def in_redis(url: str, handle: str) -> bool:
    redis = Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    try:
        return await redis.zscore(REVOKED_KEY, handle) is not None
    finally:
        await redis.aclose()


async def reaches_redis(url: str, handle: str, within: float = 20.0) -> bool:
    """Whether the handle lands in Redis' revocation set within ``within`` seconds
    (a bound for a condition, not a timing measurement)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await in_redis(url, handle):
            return True
        await asyncio.sleep(0.1)
    return False


async def feed_handles(client: httpx.AsyncClient) -> set[str]:
    response = await client.get("/internal/revocations", headers=INTERNAL)
    assert response.status_code == 200, response.text
    return {entry["handle"] for entry in response.json()["revoked"]}


async def test_revoking_a_pk_key_with_redis_down_succeeds_and_reaches_redis_later(
    isolated: Isolated,
) -> None:
    client, driver = isolated.client, isolated.driver
    headers = await driver.token(await driver.register())
    created = await client.post(
        "/auth/api-keys/generate", json={"name": "k", "permissions": ["read"]}, headers=headers
    )
    assert created.status_code == 200, created.text
    key, key_id = created.json()["api_key"], created.json()["key_info"]["id"]
    assert (await driver.introspect("api_key", key))["active"] is True

    isolated.redis.kill()
    revoked = await client.delete(f"/auth/api-keys/{key_id}", headers=headers)
    assert revoked.status_code == 200, revoked.text
    assert revoked.json() == {"message": "API key revoked", "id": key_id}

    # Auth refuses it at once, and the durable feed lists it for the gateway to poll.
    assert (await driver.introspect("api_key", key))["active"] is False
    assert f"key:{key_id}" in await feed_handles(client)
    health = (await client.get("/health")).json()
    assert health["components"]["revocations"]["info"] == {"unpublished": 1}
    # Revoking it again is a clean 404, not a second revocation.
    again = await client.delete(f"/auth/api-keys/{key_id}", headers=headers)
    assert again.status_code == 404

    isolated.redis.start()
    assert await reaches_redis(isolated.redis.url, f"key:{key_id}")


async def test_regenerating_the_skype_key_with_redis_down_returns_the_new_key(
    isolated: Isolated,
) -> None:
    client, driver = isolated.client, isolated.driver
    account = new_account()
    registered = await client.post(
        "/api/register",
        json={
            "username": account.username,
            "email": account.email,
            "password": account.password,
            "display_name": "Alice",
        },
    )
    assert registered.status_code == 200, registered.text
    old_key = registered.json()["api_key"]
    headers = await driver.bearer("api_key", old_key)
    old_sid = (await driver.introspect("api_key", old_key))["sid"]

    isolated.redis.kill()
    regenerated = await client.post("/api/regenerate-api-key", headers=headers)
    assert regenerated.status_code == 200, regenerated.text
    new_key = regenerated.json()["api_key"]
    assert new_key.startswith("sk_")
    assert new_key != old_key

    # The caller holds a working key, and the old one is refused.
    assert (await driver.introspect("api_key", new_key))["active"] is True
    assert (await driver.introspect("api_key", old_key))["active"] is False
    assert old_sid in await feed_handles(client)

    isolated.redis.start()
    assert await reaches_redis(isolated.redis.url, old_sid)


async def test_logout_and_invalidating_sessions_with_redis_down_succeed(
    isolated: Isolated,
) -> None:
    client, driver = isolated.client, isolated.driver
    account = await driver.register()
    logins = [await driver.login(account) for _ in range(3)]
    for login in logins:
        assert login.status_code == 200, login.text
    mine, *others = [
        {"Authorization": f"Bearer {login.json()['access_token']}"} for login in logins
    ]
    other_sids = [
        (await driver.introspect("session", login.cookies["session_id"]))["sid"]
        for login in logins[1:]
    ]

    isolated.redis.kill()
    invalidated = await client.post("/auth/invalidate-other-sessions", headers=mine)
    assert invalidated.status_code == 200, invalidated.text
    assert invalidated.json()["revoked_sessions"] == 2
    for headers in others:
        assert (await client.get("/auth/api-keys", headers=headers)).status_code == 401
    logout = await client.post("/auth/logout", headers=mine)
    assert logout.status_code == 200, logout.text
    assert (await client.get("/auth/api-keys", headers=mine)).status_code == 401
    assert set(other_sids) <= await feed_handles(client)

    isolated.redis.start()
    for sid in other_sids:
        assert await reaches_redis(isolated.redis.url, sid)


async def test_a_revocation_the_relay_could_not_send_survives_a_restart(
    backing: Any, own_redis: RedisProcess
) -> None:
    """The unpublished record is the outbox: an app started later publishes it."""
    async with fresh_database(backing.database_url) as database_url:
        settings = make_settings(database_url, own_redis.url)
        app = create_app(settings)
        async with app.router.lifespan_context(app), asgi_client(app) as client:
            driver = AuthDriver(client)
            headers = await driver.token(await driver.register())
            created = await client.post(
                "/auth/api-keys/generate", json={"name": "k"}, headers=headers
            )
            key_id = created.json()["key_info"]["id"]
            own_redis.kill()
            assert (
                await client.delete(f"/auth/api-keys/{key_id}", headers=headers)
            ).status_code == 200
        own_redis.start()
        assert not await in_redis(own_redis.url, f"key:{key_id}")
        restarted = create_app(settings)
        async with restarted.router.lifespan_context(restarted):
            assert await reaches_redis(own_redis.url, f"key:{key_id}")

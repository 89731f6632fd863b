"""When Redis goes away the gateway stays up: everyday routes fail open, the
brute-force and cost guards fail closed with 503, answers stay fast, the
monitoring page says so, and everything recovers when Redis returns."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.gateway.conftest import StartGateway, Upstreams
from tests.gateway.support import KeyRing
from tests.support.redis_process import RedisProcess


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
        redis_url=own_redis.url, rate_limit_api="50/60", rate_limit_breaker_seconds=30
    )
    breaker = gateway.app.runtime.limiter.breaker
    offset = 0.0
    breaker.clock = lambda: time.monotonic() + offset
    headers = {"Authorization": f"Bearer {keyring.mint()}"}
    async with gateway.client() as client:
        assert (await client.get("/sessions", headers=headers)).status_code == 200
        own_redis.stop()

        api = await client.get("/sessions", headers=headers)
        assert api.status_code == 200
        assert api.headers["x-ratelimit-limit"] == "50"
        assert "x-ratelimit-remaining" not in api.headers  # unknown while Redis is down
        login = await client.post("/auth/login", json={})
        assert login.status_code == 503
        assert login.json()["code"] == "service_unavailable"
        assert "retry-after" in login.headers
        export = await client.post("/client/export/chats", headers=headers, json={})
        assert export.status_code == 503
        assert export.json()["error_code"] == "service_unavailable"
        # One request found Redis gone; the breaker answered the others at once.
        assert breaker.stats.failures == 1
        assert breaker.stats.refused == 2

        detailed = (await client.get("/monitoring/detailed")).json()
        assert detailed["status"] == "degraded"
        assert detailed["components"]["redis"]["status"] == "unhealthy"
        assert detailed["components"]["rate_limiter"]["status"] == "degraded"
        assert detailed["components"]["rate_limiter"]["redis_available"] is False
        assert detailed["components"]["rate_limiter"]["breaker"]["state"] == "open"
        assert (await client.get("/healthcheck")).status_code == 200

        own_redis.start()  # same port: the gateway finds it again by itself
        offset = 31.0  # the breaker's open period is over: the next call is its trial
        login = await client.post("/auth/login", json={})
        assert login.status_code == 200
        assert breaker.state == "closed"
        detailed = (await client.get("/monitoring/detailed")).json()
        assert detailed["components"]["rate_limiter"]["status"] == "healthy"


async def test_a_frozen_redis_costs_one_bounded_wait(
    start_gateway: StartGateway, own_redis: RedisProcess, keyring: KeyRing
) -> None:
    gateway = await start_gateway(
        redis_url=own_redis.url,
        rate_limit_redis_timeout_seconds=0.3,
        rate_limit_breaker_seconds=600,
        health_timeout_seconds=0.5,
    )
    breaker = gateway.app.runtime.limiter.breaker
    headers = {"Authorization": f"Bearer {keyring.mint()}"}
    async with gateway.client() as client:
        assert (await client.get("/sessions", headers=headers)).status_code == 200
        own_redis.freeze()
        try:
            first = await client.get("/sessions", headers=headers)
            rest = [(await client.get("/sessions", headers=headers)).status_code for _ in range(10)]
            failures, refused = breaker.stats.failures, breaker.stats.refused
            health = await client.get("/api/health")
        finally:
            own_redis.thaw()
    assert first.status_code == 200
    assert rest == [200] * 10
    # The first request waited for Redis (its bounded timeout) and opened the breaker;
    # the ten after it did not touch Redis at all.
    assert (failures, refused) == (1, 10)
    assert breaker.stats.last_error in ("TimeoutError", "ConnectionError")
    assert health.status_code == 503
    assert health.json()["components"]["redis"]["status"] == "unhealthy"


async def test_a_revocation_made_while_redis_is_down_still_reaches_the_gateway(
    start_gateway: StartGateway, own_redis: RedisProcess, upstreams: Upstreams
) -> None:
    """Redis killed: pub/sub says nothing, yet the cached key stops working once auth's
    durable feed (/internal/revocations, polled every 0.2 s here) lists it; the cache
    stays healthy meanwhile because revocations still arrive."""
    gateway = await start_gateway(redis_url=own_redis.url, revocation_poll_seconds=0.2)
    revocations = gateway.app.runtime.revocations
    upstreams.auth.grant("pk_revoked_while_down", sid="key:down-1")
    headers = {"X-API-Key": "pk_revoked_while_down"}
    async with gateway.client() as client:
        assert (await client.get("/sessions", headers=headers)).status_code == 200
        own_redis.kill()
        for _ in range(500):  # bounded: until the gateway notices pub/sub is gone
            if not revocations.connected:
                break
            await asyncio.sleep(0.01)
        assert not revocations.connected
        polls = upstreams.auth.revocation_polls
        upstreams.auth.revoke("pk_revoked_while_down")
        for _ in range(500):
            if revocations.is_revoked("key:down-1"):
                break
            await asyncio.sleep(0.01)
        assert revocations.is_revoked("key:down-1")
        assert upstreams.auth.revocation_polls > polls
        response = await client.get("/sessions", headers=headers)
        assert response.status_code == 401
        detailed = (await client.get("/monitoring/detailed")).json()
        cache = detailed["components"]["credential_cache"]
    assert cache["status"] == "healthy"
    assert cache["revocations"] == "polling auth"


async def test_a_redis_restart_costs_no_request(
    start_gateway: StartGateway, own_redis: RedisProcess, keyring: KeyRing
) -> None:
    """Redis killed and started again between two bursts: the limiter's pooled
    connections all died with it, yet no request after the restart is degraded (the
    fail-closed login would answer 503) and the breaker never opens."""
    gateway = await start_gateway(redis_url=own_redis.url, rate_limit_breaker_seconds=600)
    breaker = gateway.app.runtime.limiter.breaker
    headers = {"Authorization": f"Bearer {keyring.mint()}"}
    async with gateway.client() as client:
        burst = [client.get("/sessions", headers=headers) for _ in range(8)]
        assert [r.status_code for r in await asyncio.gather(*burst)] == [200] * 8
        own_redis.kill()
        own_redis.start()
        logins = await asyncio.gather(*(client.post("/auth/login", json={}) for _ in range(8)))
        assert [r.status_code for r in logins] == [200] * 8, logins[0].text
        assert all("x-ratelimit-remaining" in r.headers for r in logins)
        health = await client.get("/api/health")
    assert (breaker.stats.failures, breaker.state) == (0, "closed")
    assert health.json()["components"]["redis"]["status"] == "healthy", health.text

"""The one-call limiter against the ``limits`` library it reimplements: the same
decisions, the same remaining counts, on the same Redis keys; the reset of a new bucket
one window away; an export refused by one rule spends nothing of the other."""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from limits import RateLimitItemPerSecond
from limits.aio.storage import RedisStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from redis.asyncio import Redis

from gateway.rate_limit import KEY_PREFIX, GatewayRateLimiter
from gateway.route_table import RateClass
from gateway.settings import GatewaySettings
from shared.errors import RateLimited


@pytest.fixture
async def limiter(redis_url: str) -> AsyncIterator[GatewayRateLimiter]:
    settings = GatewaySettings(
        environment="test",
        redis_url=redis_url,
        rate_limit_api="5/2",
        rate_limit_export_user="3/60",
        rate_limit_export_client="4/3600",
    )
    made = GatewayRateLimiter(settings)
    yield made
    await made.close()


@pytest.fixture
async def reference(redis_url: str) -> AsyncIterator[SlidingWindowCounterRateLimiter]:
    storage = RedisStorage("async+" + redis_url, implementation="redispy", key_prefix=KEY_PREFIX)
    yield SlidingWindowCounterRateLimiter(storage)
    await storage.bridge.storage.aclose()  # type: ignore[attr-defined]


async def hit(limiter: GatewayRateLimiter, key: str) -> tuple[bool, int | None]:
    try:
        headers = dict(await limiter.check(RateClass.API, key))
    except RateLimited:
        return False, 0
    return True, int(headers[b"x-ratelimit-remaining"])


async def test_same_decisions_and_counts_as_limits_across_a_window_shift(
    limiter: GatewayRateLimiter, reference: SlidingWindowCounterRateLimiter
) -> None:
    """Identity A through the gateway's script, identity B through ``limits``' own hit;
    the same sequence of hits, before and after the 2 s window shifts. ``limits`` also
    reads A's buckets (the same keys) and agrees on what remains."""
    item = RateLimitItemPerSecond(5, 2)
    a, b = f"ip:a-{uuid.uuid4().hex}", f"ip:b-{uuid.uuid4().hex}"
    ours, theirs = [], []
    for burst in (7, 3, 4):
        for _ in range(burst):
            allowed, remaining = await hit(limiter, a)
            ours.append(allowed)
            theirs.append(await reference.hit(item, "api", b))
            stats = await reference.get_window_stats(item, "api", a)
            if allowed:
                assert remaining == stats.remaining
        await asyncio.sleep(1.1)  # into the next window: the previous one's weight decays
    assert ours == theirs
    assert ours[:7] == [True] * 5 + [False] * 2


async def test_a_new_bucket_resets_one_window_from_now(limiter: GatewayRateLimiter) -> None:
    before = time.time()
    headers = dict(await limiter.check(RateClass.API, f"ip:{uuid.uuid4().hex}"))
    assert headers[b"x-ratelimit-remaining"] == b"4"
    assert int(headers[b"x-ratelimit-reset"]) >= math.floor(before + 2)


async def test_a_refused_hit_says_when_the_next_one_passes(limiter: GatewayRateLimiter) -> None:
    key = f"ip:{uuid.uuid4().hex}"
    for _ in range(5):
        await limiter.check(RateClass.API, key)
    with pytest.raises(RateLimited) as refused:
        await limiter.check(RateClass.API, key)
    # All five in the current 2 s window: free again once it ends and they decay.
    assert 0 < refused.value.retry_after <= 4
    assert refused.value.headers["x-ratelimit-remaining"] == "0"
    assert int(refused.value.headers["x-ratelimit-reset"]) >= int(time.time())


async def test_an_export_refused_by_the_client_cap_spends_nothing(
    limiter: GatewayRateLimiter, redis_url: str
) -> None:
    client = f"client:{uuid.uuid4().hex}"
    users = [f"user:{uuid.uuid4().hex}" for _ in range(2)]
    for _ in range(2):
        for user in users:
            await limiter.check(RateClass.EXPORT, user, client)
    # The tenant's hourly cap (4) is spent; the users' per-minute budgets (3) are not.
    with pytest.raises(RateLimited) as refused:
        await limiter.check(RateClass.EXPORT, users[0], client)
    assert refused.value.extra["limit"] == 4
    _, current = limiter.rules[RateClass.EXPORT][0].keys(users[0])
    redis = Redis.from_url(redis_url)
    try:
        assert int(await redis.get(current) or 0) == 2  # the refused export was not counted
    finally:
        await redis.aclose()


async def test_one_redis_call_per_request(limiter: GatewayRateLimiter, redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    try:
        before = (await redis.info("commandstats")).get("cmdstat_evalsha", {}).get("calls", 0)
        client = f"client:{uuid.uuid4().hex}"
        for _ in range(3):
            await limiter.check(RateClass.EXPORT, f"user:{uuid.uuid4().hex}", client)
        after = (await redis.info("commandstats"))["cmdstat_evalsha"]["calls"]
    finally:
        await redis.aclose()
    assert after - before == 3  # two rules each time, one script call

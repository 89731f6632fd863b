"""The one-call limiter against the ``limits`` library it reimplements: the same
decisions, the same remaining counts, on the same Redis keys; the reset of a new bucket
one window away; an export refused by one rule spends nothing of the other."""

from __future__ import annotations

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
        rate_limit_api="5/60",
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


# Bucket states (previous count, previous TTL ms, current count, current TTL ms) for a
# 5 per 60 s rule, the TTLs chosen so that the weighted count sits mid-way between two
# integers: the milliseconds between two calls cannot change a decision.
STATES = [
    (0, 0, 0, 0),  # a new bucket
    (0, 0, 3, 90_000),  # room left in the current window
    (0, 0, 5, 90_000),  # the current window alone is full
    (6, 30_000, 1, 90_000),  # previous weight 3: room for one more
    (9, 30_000, 1, 90_000),  # previous weight 4.5: full
    (4, 45_000, 2, 105_000),  # weight 3 + 2: full
    (0, 0, 4, 50_000),  # the current window is over: shifted first (weight 3.33 + 0)
    (0, 0, 6, 50_000),  # shifted, weight 5: still full
]


async def _set_state(redis: Redis, limiter: GatewayRateLimiter, key: str, state: tuple) -> None:
    previous, previous_ttl, current, current_ttl = state
    prev_key, cur_key = limiter.rules[RateClass.API][0].keys(key)
    if previous_ttl:
        await redis.set(prev_key, previous, px=previous_ttl)
    if current_ttl:
        await redis.set(cur_key, current, px=current_ttl)


@pytest.mark.parametrize("state", STATES)
async def test_same_decisions_and_counts_as_limits(
    limiter: GatewayRateLimiter,
    reference: SlidingWindowCounterRateLimiter,
    redis_url: str,
    state: tuple[int, int, int, int],
) -> None:
    """Two identities in the same state: one hit through the gateway's script, one
    through ``limits``' own; the same decision, and ``limits`` reads on our keys the
    remaining count our script reported."""
    item = RateLimitItemPerSecond(5, 60)
    ours_key, theirs_key = f"ip:a-{uuid.uuid4().hex}", f"ip:b-{uuid.uuid4().hex}"
    redis = Redis.from_url(redis_url)
    try:
        for key in (ours_key, theirs_key):
            await _set_state(redis, limiter, key, state)
    finally:
        await redis.aclose()
    allowed, remaining = await hit(limiter, ours_key)
    assert allowed == await reference.hit(item, "api", theirs_key), state
    stats = await reference.get_window_stats(item, "api", ours_key)
    assert remaining == stats.remaining, state


async def test_a_new_bucket_resets_one_window_from_now(limiter: GatewayRateLimiter) -> None:
    before = time.time()
    headers = dict(await limiter.check(RateClass.API, f"ip:{uuid.uuid4().hex}"))
    assert headers[b"x-ratelimit-remaining"] == b"4"
    assert int(headers[b"x-ratelimit-reset"]) >= math.floor(before + 60)


async def test_a_refused_hit_says_when_the_next_one_passes(limiter: GatewayRateLimiter) -> None:
    key = f"ip:{uuid.uuid4().hex}"
    for _ in range(5):
        await limiter.check(RateClass.API, key)
    with pytest.raises(RateLimited) as refused:
        await limiter.check(RateClass.API, key)
    # All five in the current 60 s window: free again once it ends and they decay.
    assert 55 < refused.value.retry_after <= 61
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

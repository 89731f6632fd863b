"""Script calls made in one turn of the event loop share a Redis pipeline: each request
still gets its own decision and figures, exactly as one call at a time would give them,
and a Redis that lost its scripts (restarted, flushed) is given the script again."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from gateway.rate_limit import REMAINING, GatewayRateLimiter
from gateway.route_table import RateClass
from gateway.settings import GatewaySettings
from shared.errors import RateLimited


@pytest.fixture
async def limiter(redis_url: str) -> AsyncIterator[GatewayRateLimiter]:
    made = GatewayRateLimiter(
        GatewaySettings(environment="test", redis_url=redis_url, rate_limit_api="20/86400")
    )
    yield made
    await made.close()


def remaining(headers: list[tuple[bytes, bytes]]) -> int:
    return int(dict(headers)[REMAINING])


def count_pipelines(limiter: GatewayRateLimiter) -> list[int]:
    """The size of each pipeline the limiter sends from now on (appended as it goes)."""
    sent: list[int] = []
    pipeline = limiter._pipeline

    async def counting(batch: list) -> list:  # type: ignore[type-arg]
        sent.append(len(batch))
        return await pipeline(batch)

    limiter._pipeline = counting  # type: ignore[method-assign]
    return sent


async def test_concurrent_checks_are_pipelined_and_each_counted_once(
    limiter: GatewayRateLimiter, redis_url: str
) -> None:
    user = f"user:{uuid.uuid4().hex}"
    sent = count_pipelines(limiter)
    answers = await asyncio.gather(
        *(limiter.check(RateClass.API, user) for _ in range(25)), return_exceptions=True
    )
    allowed = [a for a in answers if isinstance(a, list)]
    refused = [a for a in answers if isinstance(a, RateLimited)]
    assert len(allowed) == 20
    assert len(refused) == 5
    # Every allowed request saw a different count: no two were decided on the same one.
    assert sorted(remaining(a) for a in allowed) == list(range(20))
    assert sum(sent) >= 24  # all but (at most) a first lone call went in pipelines
    assert max(sent) > 1
    assert limiter.breaker.closed


async def test_a_redis_that_lost_the_script_gets_it_again(
    limiter: GatewayRateLimiter, redis_url: str
) -> None:
    user = f"user:{uuid.uuid4().hex}"
    await limiter.check(RateClass.API, user)  # the script is loaded
    redis = Redis.from_url(redis_url)
    try:
        await redis.script_flush()
    finally:
        await redis.aclose()
    sent = count_pipelines(limiter)
    limiter._direct += 1  # as if a call were on its way: all five share one pipeline
    try:
        answers = await asyncio.gather(*(limiter.check(RateClass.API, user) for _ in range(5)))
    finally:
        limiter._direct -= 1
    assert sent == [5]
    assert sorted(remaining(a) for a in answers) == [14, 15, 16, 17, 18]
    assert limiter.breaker.closed
    assert limiter.counts.degraded_decisions == {}

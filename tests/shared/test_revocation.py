from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from redis.asyncio import Redis

from shared.backoff import Backoff
from shared.revocation import RevocationList, publish_revocation


async def wait_until(predicate: Any, timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.01)
    return False


async def test_revocation_reaches_a_running_listener_and_a_late_starter(backing: Any) -> None:
    redis = Redis.from_url(backing.redis_url)
    early = RevocationList(redis)
    seen: list[str] = []
    early.on_revoke(seen.append)
    await early.start()
    handle = f"sess-{uuid.uuid4().hex}"
    try:
        assert not early.is_revoked(handle)
        await publish_revocation(redis, handle, time.time() + 60)
        assert await wait_until(lambda: early.is_revoked(handle))
        assert handle in seen

        late = RevocationList(redis)
        await late.start()
        assert late.is_revoked(handle)  # loaded from the sorted set at start
        await late.stop()
    finally:
        await early.stop()
        await redis.aclose()


async def test_expired_revocations_are_forgotten(backing: Any) -> None:
    redis = Redis.from_url(backing.redis_url)
    handle = f"sess-{uuid.uuid4().hex}"
    await publish_revocation(redis, handle, time.time() - 1)
    listener = RevocationList(redis)
    await listener.start()
    try:
        assert not listener.is_revoked(handle)
    finally:
        await listener.stop()
        await redis.aclose()


async def test_reconnects_to_a_lost_redis_back_off_with_jitter() -> None:
    """Every replica used to retry exactly every second, in lock-step."""
    ceilings: list[float] = []
    four_tries = asyncio.Event()

    def record(low: float, high: float) -> float:
        assert low == high / 2  # drawn from the upper half of the curve
        ceilings.append(high)
        if len(ceilings) == 4:
            four_tries.set()
        return 0.0

    nothing_listens = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1)
    listener = RevocationList(nothing_listens, reconnect=Backoff(base=0.2, cap=0.6, uniform=record))
    await listener.start()
    try:
        await asyncio.wait_for(four_tries.wait(), 10)
        assert not listener.connected
    finally:
        await listener.stop()
        await nothing_listens.aclose()
    assert ceilings[:4] == [0.2, 0.4, 0.6, 0.6]


async def test_without_redis_the_fallback_feed_is_polled_with_its_cursor() -> None:
    """No Redis answers: revocations come from the feed (auth's /internal/revocations),
    asked again from the cursor it gave; listeners hear of each handle once."""
    from deploy.ports import free_port

    redis = Redis.from_url(
        f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.2, socket_timeout=0.2
    )
    asked: list[float | None] = []
    handle = f"key:{uuid.uuid4().hex}"

    async def feed(since: float | None) -> tuple[list[tuple[str, float]], float]:
        asked.append(since)
        revoked = [(handle, time.time() + 60)] if len(asked) >= 2 else []
        return revoked, 100.0 + len(asked)

    listener = RevocationList(redis, fallback=feed, poll_seconds=0.05)
    heard: list[str] = []
    listener.on_revoke(heard.append)
    await listener.start()
    try:
        assert await wait_until(lambda: listener.is_revoked(handle))
        assert await wait_until(lambda: len(asked) >= 4)
        assert not listener.connected
        assert listener.synced
        assert heard == [handle]  # polled again and again, announced once
        assert asked[:3] == [None, 101.0, 102.0]
    finally:
        await listener.stop()
        await redis.aclose()


async def test_a_failing_feed_leaves_the_list_unsynced() -> None:
    from deploy.ports import free_port

    redis = Redis.from_url(
        f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.2, socket_timeout=0.2
    )

    async def feed(since: float | None) -> tuple[list[tuple[str, float]], float]:
        raise ConnectionError("auth is down too")

    listener = RevocationList(redis, fallback=feed, poll_seconds=0.05)
    await listener.start()
    try:
        assert not listener.synced
    finally:
        await listener.stop()
        await redis.aclose()

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from redis.asyncio import Redis

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

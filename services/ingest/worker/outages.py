"""An object store that cannot be reached is not the job's fault.

When a job's attempt fails because the object store is unreachable (refused or
dropped connections, timeouts), retrying the whole message at once would only burn
the message's receives: SQS counts every one, and after ``max_receive_count`` the job
fails for good although nothing was wrong with it. Instead the worker keeps the
message (hidden, and ingest told the worker is alive), probes the store with
jittered exponential backoff, and starts a new attempt as soon as the store answers,
for up to ``store_outage_wait_seconds``; only past that does the attempt count as a
failed one.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import time
from collections.abc import Callable
from typing import Any

import aiohttp

from shared.backing_errors import unavailable_backend
from shared.backoff import Backoff

# What a streamed body raises when its connection to the store drops (aioboto3 reads it
# with aiohttp); the shared classifier does not count aiohttp's errors, which in other
# processes (the gateway's relay) are not about the store.
_BODY_CUT = (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError)


def is_store_outage(exc: BaseException) -> bool:
    """Whether ``exc`` (or what it was raised from) is the object store being
    unreachable: what :func:`shared.backing_errors.unavailable_backend` calls object
    storage (botocore's connection and transport errors, a 5xx answer), or a streamed
    body cut off. A bare refused connection is not counted: it may be a webhook's."""
    if unavailable_backend(exc) == "object storage":
        return True
    current: BaseException | None = exc
    for _ in range(10):
        if current is None:
            return False
        if isinstance(current, _BODY_CUT):
            return True
        current = current.__cause__ or current.__context__
    return False


class StoreWait(enum.Enum):
    BACK = "back"  # the store answers: start a new attempt
    GAVE_UP = "gave_up"  # still unreachable after the budget: the attempt failed
    STOPPING = "stopping"  # the worker is stopping: release the message
    ENDED = "ended"  # the job ended elsewhere meanwhile: drop the message


class StoreOutage:
    """The outage budget of one message: how long its job may still wait for the store."""

    def __init__(
        self, budget_seconds: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._clock = clock
        self._deadline = clock() + budget_seconds
        self._delays = Backoff(base=0.5, cap=15.0)

    def remaining(self) -> float:
        return max(0.0, self._deadline - self._clock())

    async def wait_until_back(
        self,
        s3: Any,
        bucket: str,
        *,
        stopping: asyncio.Event,
        ended: Callable[[], bool],
    ) -> StoreWait:
        """Probe ``bucket`` until it answers, the budget runs out, the worker stops or
        the job ends elsewhere (``ended()``: the heartbeat learnt it)."""
        while True:
            pause_until = self._clock() + min(self._delays.next(), self.remaining())
            while not stopping.is_set() and not ended() and self._clock() < pause_until:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        stopping.wait(), timeout=min(0.25, pause_until - self._clock())
                    )
            if stopping.is_set():
                return StoreWait.STOPPING
            if ended():
                return StoreWait.ENDED
            try:
                await s3.head_bucket(Bucket=bucket)
            except Exception as exc:
                if not is_store_outage(exc):
                    return StoreWait.BACK  # it answers (even an error): let the job say what
            else:
                return StoreWait.BACK
            if self.remaining() <= 0:
                return StoreWait.GAVE_UP

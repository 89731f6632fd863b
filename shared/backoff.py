"""Jittered exponential backoff: how long to wait before the next try.

Retry loops (the worker's SQS calls, the revocation feed's reconnect, the
launcher's restarts) wait ``base * factor**n`` seconds after the n-th failure in a
row, capped at ``cap``, and *jittered*: each wait is drawn uniformly from the upper
half of that value ("equal jitter", AWS Architecture Blog, *Exponential Backoff And
Jitter*). Replicas that lost Redis at the same instant so spread their reconnects
instead of retrying in lock-step, and no wait is ever shorter than half the curve
(no hot loop) or longer than ``cap`` (every wait bounded).

    delays = Backoff(base=0.1, cap=5.0)
    while True:
        try:
            await connect()
            delays.reset()          # a success starts the curve again
        except ConnectionError:
            await asyncio.sleep(delays.next())

``attempts`` counts failures since the last :meth:`reset`; callers that give up
after a number of tries compare it with their own limit.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """The waits of one retry loop (not thread-safe: one per loop)."""

    base: float = 0.1
    cap: float = 10.0
    factor: float = 2.0
    uniform: Callable[[float, float], float] = field(default=random.uniform, repr=False)
    attempts: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.base <= self.cap:
            raise ValueError("need 0 < base <= cap")
        if self.factor < 1:
            raise ValueError("factor must be at least 1")

    def ceiling(self) -> float:
        """The un-jittered wait after the current number of failures."""
        # min() before the power could overflow: attempts can grow without limit.
        exponent = min(self.attempts, 64)
        return float(min(self.cap, self.base * self.factor**exponent))

    def next(self) -> float:
        """Count one more failure and return the seconds to wait before the next try."""
        ceiling = self.ceiling()
        self.attempts += 1
        return self.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        """A success: the next failure waits ``base`` again."""
        self.attempts = 0

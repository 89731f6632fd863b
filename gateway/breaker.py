"""A circuit breaker: an outage of something the gateway calls on the request path (the
rate limiter's Redis, auth's introspection) costs one bounded wait, not one per request.

- closed: calls go through; a failed one opens the breaker;
- open: for ``open_seconds`` every call is refused at once (the caller answers
  without waiting: fail open or fail closed, its choice);
- half-open: then one call at a time is let through as a trial; its success closes
  the breaker, its failure opens it again. A trial whose caller never reports back
  (cancelled) is given up after ``open_seconds``, so the breaker cannot stay stuck.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(slots=True)
class BreakerStats:
    failures: int = 0  # calls that failed
    refused: int = 0  # calls refused at once while open
    opened: int = 0  # times the breaker opened
    last_error: str | None = None
    last_error_at: float | None = None  # epoch


class CircuitBreaker:
    def __init__(
        self, name: str, open_seconds: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.name = name
        self.open_seconds = open_seconds
        self.clock = clock
        self.stats = BreakerStats()
        self._open_until = 0.0
        self._open = False
        self._trial_until = 0.0  # a trial is out until then

    @property
    def closed(self) -> bool:
        return not self._open

    @property
    def state(self) -> BreakerState:
        if not self._open:
            return BreakerState.CLOSED
        if self.clock() < self._open_until:
            return BreakerState.OPEN
        return BreakerState.HALF_OPEN

    def allow(self) -> bool:
        """Whether a call may go through now (counts a refusal when not)."""
        if not self._open:
            return True
        now = self.clock()
        if now >= self._open_until and now >= self._trial_until:
            self._trial_until = now + self.open_seconds  # this caller is the trial
            return True
        self.stats.refused += 1
        return False

    def retry_after(self) -> float:
        """Seconds until a call may be tried again (0 when closed)."""
        if not self._open:
            return 0.0
        return max(self._open_until, self._trial_until) - self.clock()

    def success(self) -> None:
        self._open = False
        self._trial_until = 0.0

    def failure(self, exc: BaseException) -> None:
        now = self.clock()
        self.stats.failures += 1
        self.stats.last_error = type(exc).__name__
        self.stats.last_error_at = time.time()
        if not self._open or now >= self._open_until:
            self.stats.opened += 1
        self._open = True
        self._open_until = now + self.open_seconds
        self._trial_until = 0.0

    def snapshot(self) -> dict[str, object]:
        return {
            "state": self.state.value,
            "open_seconds": self.open_seconds,
            "failures": self.stats.failures,
            "refused_while_open": self.stats.refused,
            "times_opened": self.stats.opened,
            "last_error": self.stats.last_error,
            "last_error_at": self.stats.last_error_at,
        }

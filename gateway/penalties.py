"""Addresses whose rejected credentials exhausted their limit: until their penalty ends
they may not make the gateway ask auth about a credential it does not know, so
guessing keys cannot turn into a flood of introspection calls.

Bounded: at most ``max_entries`` addresses. Expired penalties are dropped as they are
met; when the table is full of live ones, the oldest (the first to expire, as every
penalty lasts the limit's window) makes room for the newest offender, which is the one
still guessing.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable


class PenaltyBox:
    def __init__(self, max_entries: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._max = max_entries
        self._clock = clock
        self._until: OrderedDict[str, float] = OrderedDict()
        self.displaced = 0  # live penalties dropped to make room

    def __len__(self) -> int:
        return len(self._until)

    def __contains__(self, address: str) -> bool:
        return self.remaining(address) is not None

    def remaining(self, address: str) -> float | None:
        """Seconds of penalty left for ``address``, ``None`` if it has none."""
        until = self._until.get(address)
        if until is None:
            return None
        left = until - self._clock()
        if left <= 0:
            del self._until[address]
            return None
        return left

    def penalise(self, address: str, seconds: float) -> None:
        if self._max <= 0:
            return
        self._until.pop(address, None)
        if len(self._until) >= self._max:
            now = self._clock()
            while self._until and next(iter(self._until.values())) <= now:
                self._until.popitem(last=False)  # oldest first: most likely expired
            if len(self._until) >= self._max:
                self._until.popitem(last=False)
                self.displaced += 1
        self._until[address] = self._clock() + seconds

"""Bearer tokens the gateway has verified, remembered until they expire.

A least-recently-used map (``OrderedDict``, O(1) per use): a token in use stays, the
coldest one goes when the cache is full. Revocation is checked on every use by the
caller, never cached. The memory the entries hold is measured as they come and go
(:mod:`gateway.memory`).
"""

from __future__ import annotations

import sys
import time
from collections import OrderedDict

from gateway.memory import footprint
from shared.identity import Principal


class VerifiedTokenCache:
    def __init__(self, max_entries: int) -> None:
        self._max = max_entries
        self._entries: OrderedDict[str, tuple[Principal, int]] = OrderedDict()
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self.evictions = 0

    def get(self, token: str) -> Principal | None:
        entry = self._entries.get(token)
        if entry is None:
            self.misses += 1
            return None
        principal = entry[0]
        if principal.expires_at <= time.time():
            self._drop(token)
            self.misses += 1
            return None
        self._entries.move_to_end(token)
        self.hits += 1
        return principal

    def put(self, token: str, principal: Principal) -> None:
        if self._max <= 0:
            return
        self._drop(token)
        size = footprint(token, principal)
        self._entries[token] = (principal, size)
        self.bytes += size
        while len(self._entries) > self._max:
            _, (_, dropped) = self._entries.popitem(last=False)
            self.bytes -= dropped
            self.evictions += 1

    def _drop(self, token: str) -> None:
        entry = self._entries.pop(token, None)
        if entry is not None:
            self.bytes -= entry[1]

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def memory_bytes(self) -> int:
        """The entries' measured footprint plus the map's own."""
        return self.bytes + sys.getsizeof(self._entries)

    def __contains__(self, token: str) -> bool:
        return token in self._entries

"""What auth said about an API key or a session cookie, remembered briefly.

Entries are keyed by the SHA-256 of the credential (the raw value never sits in
a long-lived structure), expire shortly before the access token auth minted for
them, and are bounded by an LRU. The memory they hold is measured as they come
and go (:mod:`gateway.memory`). Each entry remembers its revocation handle
(``sid``) so that :meth:`IntrospectionCache.evict_handle`, wired to
``RevocationList.on_revoke``, drops a regenerated key or a logged-out session at
once. Negative answers are kept for a few seconds so a flood of bad keys does
not become a flood of introspection calls.
"""

from __future__ import annotations

import hashlib
import sys
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from gateway.memory import footprint
from shared.identity import Principal


def credential_key(kind: str, credential: str) -> str:
    """The cache key of a credential: a hash, never the credential itself."""
    return hashlib.sha256(f"{kind}\x00{credential}".encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Introspected:
    """An active credential: the token to forward and who it stands for."""

    access_token: str
    principal: Principal
    handle: str | None  # the sid auth revokes it by
    expires_at: float  # on the cache's clock (monotonic)


@dataclass(slots=True)
class CacheStats:
    hits: int = 0
    misses: int = 0
    negative_hits: int = 0
    evictions: int = 0  # LRU evictions
    expirations: int = 0
    revocations: int = 0


class IntrospectionCache:
    """Bounded, TTL'd, revocation-aware memory of introspection answers."""

    def __init__(self, max_entries: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._max = max_entries
        self.clock = clock  # what entries' expires_at is measured on
        self._entries: OrderedDict[str, Introspected | None] = OrderedDict()
        self._negative_until: dict[str, float] = {}
        self._by_handle: dict[str, set[str]] = {}
        self._sizes: dict[str, int] = {}
        self.bytes = 0
        self.stats = CacheStats()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> Introspected | bool | None:
        """The cached answer: an entry, ``False`` for a cached "inactive", ``None`` if unknown."""
        now = self.clock()
        entry = self._entries.get(key)
        if entry is not None:
            if entry.expires_at > now:
                self._entries.move_to_end(key)
                self.stats.hits += 1
                return entry
            self._drop(key)
            self.stats.expirations += 1
        elif key in self._entries:  # a negative answer
            if self._negative_until.get(key, 0.0) > now:
                self._entries.move_to_end(key)
                self.stats.negative_hits += 1
                return False
            self._drop(key)
        self.stats.misses += 1
        return None

    def put(self, key: str, entry: Introspected) -> None:
        if self._max <= 0 or entry.expires_at <= self.clock():
            return
        self._drop(key)
        self._entries[key] = entry
        self._measure(key, footprint(key, entry))
        if entry.handle is not None:
            self._by_handle.setdefault(entry.handle, set()).add(key)
        self._trim()

    def put_negative(self, key: str, ttl: float) -> None:
        if self._max <= 0 or ttl <= 0:
            return
        self._drop(key)
        self._entries[key] = None
        self._negative_until[key] = self.clock() + ttl
        self._measure(key, footprint(key, self._negative_until[key]))
        self._trim()

    def evict_handle(self, handle: str) -> None:
        """Forget every credential revoked by ``handle`` (a session, key or family id)."""
        for key in self._by_handle.pop(handle, set()):
            if self._entries.pop(key, None) is not None:
                self.bytes -= self._sizes.pop(key, 0)
                self.stats.revocations += 1

    def clear(self) -> None:
        self._entries.clear()
        self._negative_until.clear()
        self._by_handle.clear()
        self._sizes.clear()
        self.bytes = 0

    def _measure(self, key: str, size: int) -> None:
        self._sizes[key] = size
        self.bytes += size

    def _trim(self) -> None:
        while len(self._entries) > self._max:
            key, _ = self._entries.popitem(last=False)
            self._forget(key, None)
            self.stats.evictions += 1

    def _drop(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        self._forget(key, entry)

    def _forget(self, key: str, entry: Introspected | None) -> None:
        self._negative_until.pop(key, None)
        self.bytes -= self._sizes.pop(key, 0)
        if entry is not None and entry.handle is not None:
            keys = self._by_handle.get(entry.handle)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._by_handle[entry.handle]

    @property
    def memory_bytes(self) -> int:
        """The entries' measured footprint plus that of the maps holding them."""
        maps = (self._entries, self._negative_until, self._by_handle, self._sizes)
        return self.bytes + sum(sys.getsizeof(m) for m in maps)

    @property
    def lookups(self) -> int:
        return self.stats.hits + self.stats.negative_hits + self.stats.misses

    @property
    def hit_rate(self) -> float | None:
        """Answered from memory over every lookup; ``None`` before the first lookup."""
        if not self.lookups:
            return None
        return round((self.stats.hits + self.stats.negative_hits) / self.lookups, 4)

    def snapshot(self) -> dict[str, object]:
        active = sum(1 for e in self._entries.values() if e is not None)
        hit_rate = self.hit_rate
        return {
            "hit_rate": hit_rate,
            "miss_rate": None if hit_rate is None else round(1 - hit_rate, 4),
            "hits": self.stats.hits,
            "negative_hits": self.stats.negative_hits,
            "misses": self.stats.misses,
            "total_entries": len(self._entries),
            "active_credentials": active,
            "inactive_credentials": len(self._entries) - active,
            "evictions": self.stats.evictions,
            "expirations": self.stats.expirations,
            "revocation_evictions": self.stats.revocations,
            "max_entries": self._max,
            "memory_bytes": self.memory_bytes,
        }

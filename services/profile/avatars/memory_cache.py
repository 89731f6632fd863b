"""The answers of ``GET /profile/{username}`` kept in memory, ready to send.

Bounded by entries and by bytes (the spec's ``AVATAR_CACHE_MAX_SIZE`` and
``AVATAR_CACHE_MAX_MEMORY_MB``), least recently used out first. The figures it reports
(hits, misses, evictions, bytes) are counted, not estimated. Another replica's write is
felt through :meth:`invalidate` (Redis pub/sub).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class CachedAnswer:
    body: bytes
    status: int
    expires_at: datetime
    source: str

    @property
    def size(self) -> int:
        return len(self.body) + 200  # the key, the entry and the dict slot


class AnswerCache:
    def __init__(self, *, max_entries: int, max_bytes: int) -> None:
        self._entries: OrderedDict[str, CachedAnswer] = OrderedDict()
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self.stale_hits = 0
        self.evictions = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, username: str, now: datetime) -> CachedAnswer | None:
        entry = self._entries.get(username)
        if entry is None:
            self.misses += 1
            return None
        self._entries.move_to_end(username)
        self.hits += 1
        if entry.expires_at <= now:
            self.stale_hits += 1
        return entry

    def put(self, username: str, answer: CachedAnswer) -> None:
        if self._max_entries == 0 or answer.size > self._max_bytes:
            return
        self._drop(username)
        self._entries[username] = answer
        self.bytes += answer.size
        while len(self._entries) > self._max_entries or self.bytes > self._max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self.bytes -= evicted.size
            self.evictions += 1

    def invalidate(self, username: str) -> None:
        self._drop(username)

    def clear(self) -> None:
        self._entries.clear()
        self.bytes = 0

    def _drop(self, username: str) -> None:
        old = self._entries.pop(username, None)
        if old is not None:
            self.bytes -= old.size

    def snapshot(self) -> dict[str, Any]:
        lookups = self.hits + self.misses
        by_source: dict[str, int] = {}
        for entry in self._entries.values():
            by_source[entry.source] = by_source.get(entry.source, 0) + 1
        return {
            "hit_rate": round(self.hits / lookups, 4) if lookups else None,
            "miss_rate": round(self.misses / lookups, 4) if lookups else None,
            "hits": self.hits,
            "misses": self.misses,
            "stale_hits": self.stale_hits,
            "entries": len(self._entries),
            "bytes": self.bytes,
            "evictions": self.evictions,
            "max_entries": self._max_entries,
            "max_bytes": self._max_bytes,
            "by_source": by_source,
        }

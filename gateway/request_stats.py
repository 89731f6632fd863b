"""Requests the gateway answered, per second, for ``/monitoring/metrics?time_window=N``.

A ring of one-second buckets (an hour deep) holds counts and summed durations:
constant memory, O(1) per request, and any window up to an hour is a sum.
Prometheus (``/metrics``) gets the same events as counters and histograms.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from shared.metrics import LATENCY, REQUESTS

HORIZON_SECONDS = 3600


@dataclass(slots=True)
class _Bucket:
    second: int = -1
    total: int = 0
    success: int = 0
    errors: int = 0
    duration: float = 0.0


class RequestStats:
    def __init__(self, horizon_seconds: int = HORIZON_SECONDS) -> None:
        self._horizon = horizon_seconds
        self._buckets = [_Bucket() for _ in range(horizon_seconds)]
        self.started_at = time.time()
        self.total = 0
        self.in_flight = 0
        # The Prometheus children per label set, looked up once (labels() takes a lock).
        self._counters: dict[tuple[str, str, str], Any] = {}
        self._latencies: dict[tuple[str, str], Any] = {}

    def record(self, method: str, route: str, status: int, duration: float) -> None:
        """One finished request (``route`` is the table's template, never the raw path)."""
        now = int(time.time())
        bucket = self._buckets[now % self._horizon]
        if bucket.second != now:
            bucket.second, bucket.total, bucket.success, bucket.errors = now, 0, 0, 0
            bucket.duration = 0.0
        bucket.total += 1
        if status < 400:
            bucket.success += 1
        else:
            bucket.errors += 1
        bucket.duration += duration
        self.total += 1
        key = (method, route, str(status))
        counter = self._counters.get(key)
        if counter is None:
            counter = self._counters[key] = REQUESTS.labels("gateway", *key)
        counter.inc()
        latency = self._latencies.get(key[:2])
        if latency is None:
            latency = self._latencies[key[:2]] = LATENCY.labels("gateway", method, route)
        latency.observe(duration)

    def window(self, seconds: int) -> dict[str, float | int | None]:
        """Totals over the last ``seconds`` (at most the horizon)."""
        seconds = max(1, min(seconds, self._horizon))
        oldest = int(time.time()) - seconds + 1
        total = success = errors = 0
        duration = 0.0
        for bucket in self._buckets:
            if bucket.second >= oldest:
                total += bucket.total
                success += bucket.success
                errors += bucket.errors
                duration += bucket.duration
        return {
            "total": total,
            "success": success,
            "errors": errors,
            "avg_duration_ms": round(duration / total * 1000, 2) if total else None,
        }
